"""The clock the CPU's cores actually run at, measured: a chain of dependent integer adds timed on every core at once.

Why measured: VMs report the nominal clock (/proc/cpuinfo's "cpu MHz", no cpufreq), while their cores run at a boost
clock well above it (on the 2-core AMD EPYC VM: 2.60 GHz reported, 4.3 GHz measured), so a peak from the reported
clock sits below what the convolutions reach.

How: a loop of ADD_CHAIN `add rdx, rcx` instructions, each needing the previous one's result, is x86-64 machine code
written into an executable page (mmap) and called through ctypes (which releases the GIL, so one call per core runs
in parallel). A register-to-register add has a latency of one cycle on every x86-64 core since the Pentium Pro, and
a dependent chain cannot run faster than its latency, so cycles = adds, and adds / seconds is the clock. The loop's
own decrement and branch run beside the chain. Each core's clock is the best of CLOCK_REPEATS calls (an interrupt
only makes a call slower). The clock measured this way is the scalar one, an upper bound of the clock under heavy
vector work (Intel lowers it for AVX-512), which is the right side for a ceiling. Elsewhere than Linux on x86-64
nothing is measured and the reason is returned."""

from __future__ import annotations

import ctypes
import functools
import mmap
import platform
import threading
import time
from collections.abc import Callable

ADD_CHAIN = 40  # dependent adds per loop iteration (the loop's backward jump must stay within a rel8 offset)
LOOP_ITERATIONS = 5_000_000  # 2e8 cycles a call: about 50 ms at 4 GHz
CLOCK_REPEATS = 5

_MOV_RAX_RDI = bytes.fromhex("4889f8")  # rax = the iteration count (first argument)
_XOR_EDX = bytes.fromhex("31d2")  # rdx = 0: the chain's register
_MOV_ECX_1 = bytes.fromhex("b901000000")  # rcx = 1
_ADD_RDX_RCX = bytes.fromhex("4801ca")  # rdx += rcx: one link of the chain
_DEC_RAX = bytes.fromhex("48ffc8")
_JNZ_REL8 = 0x75
_MOV_RAX_RDX_RET = bytes.fromhex("4889d0c3")  # return rdx (the adds done), so the chain has a use


def chain_code(adds: int = ADD_CHAIN) -> bytes:
    """The function `uint64 f(uint64 iterations)`: `adds` dependent adds per iteration; returns iterations x adds."""
    body = _ADD_RDX_RCX * adds + _DEC_RAX
    jump_back = -(len(body) + 2)
    if jump_back < -128:
        raise ValueError(f"{adds} adds do not fit a rel8 loop; at most 41")
    return _MOV_RAX_RDI + _XOR_EDX + _MOV_ECX_1 + body + bytes([_JNZ_REL8, jump_back & 0xFF]) + _MOV_RAX_RDX_RET


def unsupported_reason() -> str | None:
    """Why the clock cannot be measured on this machine; None where it can."""
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64") or platform.system() != "Linux":
        return f"not measured: the add chain is x86-64 Linux machine code; this is {platform.system()} {machine}"
    return None


@functools.cache
def _add_chain() -> Callable[[int], int]:
    """The add chain as a callable, in an executable page kept for the process's life (made once)."""
    if reason := unsupported_reason():
        raise OSError(reason)
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(chain_code())
    chain = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
    if chain(10) != 10 * ADD_CHAIN:
        raise OSError("the add chain returned a wrong count")
    _pages.append(page)
    return chain


_pages: list[mmap.mmap] = []  # the executable pages, alive as long as their functions


def measure_clock_ghz(cores: int, iterations: int = LOOP_ITERATIONS, repeats: int = CLOCK_REPEATS) -> list[float]:
    """Each of `cores` threads' clock in GHz, all running the add chain at the same time (the all-core clock)."""
    chain = _add_chain()
    clocks = [0.0] * cores
    start = threading.Barrier(cores)

    def run(core: int) -> None:
        start.wait()
        best = float("inf")
        for _ in range(repeats):
            began = time.perf_counter()
            chain(iterations)
            best = min(best, time.perf_counter() - began)
        clocks[core] = iterations * ADD_CHAIN / best / 1e9

    threads = [threading.Thread(target=run, args=(core,)) for core in range(cores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return clocks


def measured_clock(cores: int) -> dict[str, float | str]:
    """{"measured_clock_ghz": the mean of the cores' clocks, "clock_method": how} or {"clock_method": why not}."""
    try:
        clocks = measure_clock_ghz(cores)
    except (OSError, ValueError) as error:
        return {"clock_method": str(error) if str(error).startswith("not measured") else f"not measured: {error}"}
    return {"measured_clock_ghz": sum(clocks) / len(clocks),
            "clock_method": f"a chain of {ADD_CHAIN} dependent register adds (1 cycle each) per loop iteration, timed "
                            f"on {cores} cores at once, best of {CLOCK_REPEATS} calls each: "
                            + ", ".join(f"{clock:.2f}" for clock in clocks) + " GHz (their mean kept)"}
