"""Append-only files that survive a crash: whole-line appends, partial last lines dropped, damage named."""

import subprocess
import sys
import textwrap

import pytest

from convbench.csvfile import append_text, drop_partial_tail, read_csv_checked
from convbench.errors import CorruptFile

HEADER = "stack_id,runtime,source,device,status,ms_per_forward,unstable\n"
ROW = "conv3x3-c8,torch,torch,cpu,ok,1.5,False\n"


def test_a_failed_append_leaves_the_file_as_it_was(tmp_path):
    """A write past the file-size limit (EFBIG, as a full disk gives ENOSPC) is undone and named in one error."""
    path = tmp_path / "t.csv"
    path.write_text(HEADER + ROW)
    code = textwrap.dedent(f"""
        import resource, signal, sys
        from pathlib import Path
        from convbench.csvfile import append_text
        from convbench.errors import StoreWriteError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        path = Path({str(path)!r})
        resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + 10, resource.RLIM_INFINITY))
        try:
            append_text(path, {ROW * 3!r})
        except StoreWriteError as error:
            print(error.strerror)
            sys.exit(3)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert f"cannot write {path}" in done.stdout and "run the same command again" in done.stdout
    assert path.read_text() == HEADER + ROW  # the 10 bytes that fitted were taken back


def test_a_partial_last_line_is_dropped_with_a_notice_before_the_next_append(tmp_path, caplog):
    path = tmp_path / "t.csv"
    path.write_text(HEADER + ROW + "conv5x5-c8,tor")
    append_text(path, ROW)
    assert path.read_text() == HEADER + ROW + ROW
    assert "dropped a partial last line (14 bytes)" in caplog.text
    assert drop_partial_tail(path) == 0


def test_reading_leaves_out_a_partial_last_line_even_one_cut_at_a_field_boundary(tmp_path, caplog):
    path = tmp_path / "t.csv"
    path.write_text(HEADER + ROW + "conv5x5-c8,torch,torch,")
    table = read_csv_checked(path)
    assert len(table) == 1
    assert "left out a partial last line" in caplog.text


@pytest.mark.parametrize(("content", "needles"), [
    (b"", ["empty"]),
    ((HEADER + "hello world\n" + ROW).encode(), ["line 2 has 1 fields, the header 7"]),
    ((HEADER + ROW.replace("1.5", "fast")).encode(), ["line 2, column ms_per_forward: 'fast' is not a number"]),
    ((HEADER + ROW.replace("False", "maybe")).encode(), ["line 2, column unstable: 'maybe' is not True or False"]),
    ((HEADER + ROW).encode() + b"\xff\xfe\n", ["line 3 is not UTF-8"]),
])
def test_a_damaged_file_is_one_error_naming_the_file_and_line(tmp_path, content, needles):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(CorruptFile) as error:
        read_csv_checked(path)
    for needle in [str(path), *needles]:
        assert needle in str(error.value)


def test_flags_are_read_back_as_booleans_and_an_empty_flag_as_missing(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("stack_id,runtime,source,device,unstable,tf32\nA,torch,torch,cpu,True,\nB,torch,torch,cpu,False,"
                    "False\n")
    table = read_csv_checked(path, required=["stack_id"])
    assert table["unstable"].tolist() == [True, False] and str(table["unstable"].dtype) == "boolean"
    assert table["tf32"].isna().tolist() == [True, False] and table["tf32"].iloc[1] is not True  # False, not "False"
    assert not table["tf32"].iloc[1]
