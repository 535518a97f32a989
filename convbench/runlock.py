"""One writer per run directory: an advisory lock (fcntl.flock) on <run dir>/.lock.

The kernel drops a flock when its holder ends, however it ends, so a lock file left by a killed run is simply
taken over; the file's text (pid, host, start time) names the holder for the error a second writer gets."""

from __future__ import annotations

import fcntl
import os
import socket
from datetime import datetime
from pathlib import Path

from convbench.errors import BadInput


class RunLock:
    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / ".lock"
        self._handle = None

    def acquire(self) -> str | None:
        """Take the lock; BadInput naming the holder if another process has it. Returns a note when a stale
        lock (its holder gone) was taken over, else None."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise BadInput(f"{self.path.parent} is being written by another convbench ({holder}); wait for it "
                             "to finish or pass another --run-dir") from None
        handle.seek(0)
        previous = handle.read().strip()
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since "
                     f"{datetime.now().isoformat(timespec='seconds')}\n")
        handle.flush()
        self._handle = handle
        return f"took over the lock left by a run that ended without releasing it ({previous})" if previous else None

    def release(self) -> None:
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
