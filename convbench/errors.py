"""Errors that the CLI turns into a one-line message and exit status 2."""

import traceback
from pathlib import Path


class UsageError(ValueError):
    """Bad input from the user: the message names the bad value and the valid choices."""


def one_line(error: BaseException, limit: int = 300) -> str:
    """An exception as one line for a results row: type, message, and the file:line it was raised at."""
    message = " ".join(f"{type(error).__name__}: {error}".split())[:limit]
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return message
    return f"{message} (at {Path(frames[-1].filename).name}:{frames[-1].lineno})"
