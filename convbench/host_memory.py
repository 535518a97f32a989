"""The host memory a case adds, from the kernel's own accounting of this (worker) process (Linux: /proc/self/status).

Before a case is prepared, the process's peak resident set (VmHWM) is reset to its resident set now, by writing 5 to
/proc/self/clear_refs; after the case's timing, VmHWM is the most the process held meanwhile. The case's figure is
that peak less the resident set before it: what building, loading or compiling the model, its input and every
forward added, with the framework's own import already counted before. Each case resets the peak, so one case's peak
never hides the next one's in the same worker; but memory an earlier case freed and the allocator kept (not given
back to the system) is already in the resident set, so a case can show less than it needs: a lower bound, whose
most over processes (each runs its cases in another order) is what results.csv keeps. A machine without these files
gives a Skip saying so."""

from __future__ import annotations

import re
from pathlib import Path

from convbench.errors import Skip

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
METHOD = "VmHWM - VmRSS before the case (/proc/self/status; peak reset through /proc/self/clear_refs)"


def _status_kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", STATUS.read_text(), re.M)
    if match is None:
        raise Skip(f"{STATUS} has no {field}")
    return int(match.group(1))


def start() -> int:
    """Reset the process's peak resident set to what it holds now; that resident set in bytes. Skip where the
    kernel does not offer it."""
    try:
        CLEAR_REFS.write_text("5")
        return _status_kb("VmRSS") * 1024
    except OSError as error:
        raise Skip(f"no peak resident set to reset here ({error.strerror or error})") from None


def added_mb(baseline_bytes: int) -> float:
    """The peak resident set since `start`, above its baseline, in MB (10^6 bytes)."""
    return (_status_kb("VmHWM") * 1024 - baseline_bytes) / 1e6
