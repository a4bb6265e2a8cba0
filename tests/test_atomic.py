"""Tests of mtllaws.atomic."""

import os
import stat

import pytest

from mtllaws.atomic import atomic_path, atomic_write


def test_atomic_write_replaces_whole_file_with_normal_permissions(tmp_path):
    target = tmp_path / "deep" / "f.bin"
    atomic_write(target, lambda fh: fh.write(b"one"))
    atomic_write(target, lambda fh: fh.write(b"two"))
    assert target.read_bytes() == b"two"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]


def test_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_unwritable_folder_names_the_file_and_the_fix(tmp_path):
    # issue 19 item 4 (read-only results/): a file where the folder should be fails
    # also for root, unlike chmod
    (tmp_path / "results").write_text("not a folder")
    target = tmp_path / "results" / "runs.parquet"
    with pytest.raises(OSError) as info:
        with atomic_path(target) as tmp:
            tmp.write_text("x")
    assert f"cannot write {target}" in str(info.value)
    assert "make it writable" in str(info.value)
