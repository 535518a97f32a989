"""Errors that the CLI turns into a one-line message and exit status 2."""

import traceback
from collections.abc import Sequence
from pathlib import Path


class UsageError(ValueError):
    """Bad input from the user: the message names the bad value and the valid choices."""


def check_known(names: list[str], valid: Sequence[str], what: str) -> list[str]:
    """`names` as they are, or a UsageError naming the first that is not one of `valid` (a `what`) and the valid."""
    for name in names:
        if name not in valid:
            raise UsageError(f"unknown {what} {name!r}; valid: {', '.join(valid)}")
    return names


def one_line(error: BaseException, limit: int = 300) -> str:
    """An exception as one line for a results row: type, message, and the file:line it was raised at."""
    message = " ".join(f"{type(error).__name__}: {error}".split())[:limit]
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return message
    return f"{message} (at {Path(frames[-1].filename).name}:{frames[-1].lineno})"


class CorruptFile(UsageError):
    """A results or manifest file that is damaged inside: the message names the file, the line and the reason."""


class StoreWriteError(OSError):
    """A write to the run directory or the artifacts failed (a full disk, a read-only folder); what was written
    before it stays readable."""

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(error.errno, f"cannot write {path} ({error.strerror or error}); what was written before "
                                      "stays readable: free space or fix the folder, then run the same command "
                                      "again to resume")
        self.path = path
