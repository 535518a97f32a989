"""Append-only files that survive a crash: every row is one line, appended whole or not at all, and a reader
trusts only complete lines.

The rules:
- A row is one line: cells never hold a newline (writers fold them to spaces), so "ends with a newline" means
  "complete". A file whose last line has no newline was cut mid-write (a kill, a full disk); that line is dropped
  with a notice, on reading and before the next append, never fatal.
- An append that fails (a full disk) is undone: the file is truncated back to where it was, and StoreWriteError
  says which file, why, and that what was written before stays readable.
- A rewrite goes to a temporary file that replaces the old one only once written whole.
- A file that is wrong inside (a row with the wrong number of fields, a cell that is not a number where the
  column holds numbers, bytes that are not UTF-8, no rows at all) is a CorruptFile: one line naming the file, the
  line and the reason.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from convbench.errors import CorruptFile, StoreWriteError
from convbench.schema import kind_of

log = logging.getLogger("convbench")


def append_text(path: Path, text: str) -> None:
    """Append `text` (whole lines) to `path`, fsynced; all of it or nothing. A partial last line left by an
    earlier crash is dropped first."""
    drop_partial_tail(path)
    data = text.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        start = os.fstat(fd).st_size
        try:
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError as error:
            with contextlib.suppress(OSError):
                if start == 0:
                    os.unlink(path)  # a file that this append created leaves nothing behind
                else:
                    os.ftruncate(fd, start)  # shrinking needs no space
            raise StoreWriteError(path, error) from None
    finally:
        os.close(fd)


def replace_text(path: Path, write: Callable[[Path], None]) -> None:
    """Write a new version of `path` through `write(tmp)` and swap it in; on failure the old file is untouched."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise StoreWriteError(path, error) from None


def drop_partial_tail(path: Path) -> int:
    """Cut a last line that has no newline (a write cut short); returns the bytes dropped (0: file complete)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with path.open("rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return 0
        keep = _complete_length(handle, size)
        handle.truncate(keep)
    log.warning(f"{path}: dropped a partial last line ({size - keep} bytes) left by a write that was cut short")
    return size - keep


def _complete_length(handle, size: int) -> int:
    """Bytes up to and including the last newline of the open file."""
    block = 1 << 16
    end = size
    while end > 0:
        start = max(0, end - block)
        handle.seek(start)
        chunk = handle.read(end - start)
        at = chunk.rfind(b"\n")
        if at >= 0:
            return start + at + 1
        end = start
    return 0


def csv_line(columns: Sequence[str], row: dict[str, object], cell: Callable[[object], object]) -> str:
    """One CSV line (newline included) of `row` in `columns` order; newlines inside cells become spaces."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    values = []
    for name in columns:
        value = cell(row.get(name))
        values.append(" ".join(value.splitlines()) if isinstance(value, str) else value)
    writer.writerow(values)
    return out.getvalue()


def read_csv_checked(path: Path, required: Sequence[str] = ()) -> pd.DataFrame:
    """The complete rows of a convbench CSV file, checked: a partial last line is left out (with a notice);
    CorruptFile for anything else that is wrong. `required`: columns the header must have."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise CorruptFile(f"{path}: a directory, not a CSV file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise CorruptFile(f"{path}: line {line} is not UTF-8 text (byte 0x{raw[error.start]:02x}); "
                          "the file is damaged") from None
    if text and not text.endswith("\n"):
        cut = text.rfind("\n") + 1
        log.warning(f"{path}: left out a partial last line ({len(text) - cut} characters) from a write that was "
                    "cut short")
        text = text[:cut]
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not any(rows[0]):
        raise CorruptFile(f"{path}: empty (no header line)")
    header = rows[0]
    missing = [name for name in required if name not in header]
    if missing:
        raise CorruptFile(f"{path}: not a convbench table (no column {', '.join(missing)} in its header)")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CorruptFile(f"{path}: line {number} has {len(row)} fields, the header {len(header)}; "
                              "the file is damaged")
    try:
        table = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise CorruptFile(f"{path}: not a CSV table ({' '.join(str(error).split())}); the file is damaged") from None
    for name in table.columns:
        _check_kind(path, name, table[name])
        if kind_of(name) == "flag":  # read back as booleans (nullable: an empty cell is NA), never as "True"
            table[name] = table[name].map({True: True, False: False, "True": True, "False": False}).astype("boolean")
    return table


def read_jsonl_checked(path: Path) -> list[dict]:
    """The JSON objects of a file of one JSON object per line (conditions.jsonl): a partial last line (a write cut
    short) is left out, a line that is not a JSON object is a CorruptFile naming it; [] where there is no file."""
    if not path.exists():
        return []
    text = path.read_text(errors="replace")
    lines = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
    objects = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise CorruptFile(f"{path}: line {number} is not JSON ({error.msg}); the file is damaged") from None
        if not isinstance(value, dict):
            raise CorruptFile(f"{path}: line {number} is not a JSON object; the file is damaged")
        objects.append(value)
    return objects


def read_json_checked(path: Path) -> dict:
    """A JSON object file (env.json, request.json): CorruptFile, one line, where it is not one."""
    try:
        value = json.loads(path.read_text(errors="replace"))
    except json.JSONDecodeError as error:
        raise CorruptFile(f"{path}: not JSON ({error.msg} at line {error.lineno}); the file is damaged") from None
    if not isinstance(value, dict):
        raise CorruptFile(f"{path}: not a JSON object; the file is damaged")
    return value


def _check_kind(path: Path, name: str, cells: pd.Series) -> None:
    """CorruptFile for the first cell that does not hold its column's kind (pandas parsed the rest)."""
    kind = kind_of(name)
    if kind == "number" and not pd.api.types.is_numeric_dtype(cells):
        bad = pd.to_numeric(cells, errors="coerce").isna() & cells.notna()
        what = "is not a number"
    elif kind == "flag" and not pd.api.types.is_bool_dtype(cells):
        bad = ~cells.isin([True, False, "True", "False"]) & cells.notna()
        what = "is not True or False"
    else:  # text, JSON, or a column pandas parsed as its kind
        return
    if bad.any():
        at = int(bad.to_numpy().nonzero()[0][0])
        raise CorruptFile(f"{path}: line {at + 2}, column {name}: {cells.iloc[at]!r} {what}")
