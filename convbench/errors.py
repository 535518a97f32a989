"""The errors convbench's own code raises for its callers, the command line or Python: bad input (BadInput, and a
damaged file, CorruptFile: the command line's one line and exit status 2), a failed write (StoreWriteError), and why
something cannot be measured (Skip)."""

import traceback
from collections.abc import Sequence
from pathlib import Path


class BadInput(ValueError):
    """Input that cannot be run, from the command line or from Python: the message names the bad value and the valid
    choices."""


def check_known(names: list[str], valid: Sequence[str], what: str) -> list[str]:
    """`names` as they are, or a BadInput naming the first that is not one of `valid` (a `what`) and the valid."""
    for name in names:
        if name not in valid:
            raise BadInput(f"unknown {what} {name!r}; valid: {', '.join(valid)}")
    return names


def first_of(names: list[str]) -> str:
    """'a' or 'a and 3 more'."""
    return names[0] + (f" and {len(names) - 1} more" if len(names) > 1 else "")


def one_line(error: BaseException, limit: int = 300) -> str:
    """An exception as one line for a results row: type, message, and the file:line it was raised at."""
    message = " ".join(f"{type(error).__name__}: {error}".split())[:limit]
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return message
    return f"{message} (at {Path(frames[-1].filename).name}:{frames[-1].lineno})"


class Skip(Exception):
    """Why something cannot be measured here (a case, a profiler's table, a ceiling): the typed "why not" in place
    of a result. Raised where the caller is in the same process; returned as a value where the answer crosses a
    process boundary. str(skip) is the reason a row carries."""

    @property
    def reason(self) -> str:
        return str(self)


class CorruptFile(BadInput):
    """A results or manifest file that is damaged inside: the message names the file, the line and the reason."""


class RunStopped(RuntimeError):
    """A run that had to stop before its end (its cluster stopped answering): what it measured is kept, written as
    results.parquet and report.md, and a resume goes on from there. The command line's exit status 1."""


class StoreWriteError(OSError):
    """A write to the run directory or the artifacts failed (a full disk, a read-only folder); what was written
    before it stays readable."""

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(error.errno, f"cannot write {path} ({error.strerror or error}); what was written before "
                                      "stays readable: free space or fix the folder, then run the same command "
                                      "again to resume")
        self.path = path
