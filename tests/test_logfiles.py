"""Copy-and-truncate rotation of the children's logs, with real writer processes.

What copytruncate guarantees and what it does not: the rotated copy holds what the file held;
the writer (append mode) goes on at offset 0 of the emptied file, with no hole of NUL bytes; lines
appended between the end of the copy and the truncate may be lost, and only those, so a loss
can only ever sit at the boundary between two files, never inside one.
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from cchc.app.logfiles import backup_path, rotate_all, rotate_if_large

LINE = re.compile(rb"\d{6}")
LINE_BYTES = 7  # b"000123\n"

# Writes the lines it is told to over stdin ("<first> <stop>"), answers "ok" once written.
CONTROLLED_WRITER = r"""
import sys
with open(sys.argv[1], sys.argv[2], buffering=0) as log:
    for command in sys.stdin:
        first, stop = map(int, command.split())
        for i in range(first, stop):
            log.write(b"%06d\n" % i)
        print("ok", flush=True)
"""

# Appends numbered lines as fast as it can, in short bursts; bounded.
FREE_WRITER = r"""
import sys, time
with open(sys.argv[1], "ab", buffering=0) as log:
    for i in range(int(sys.argv[2])):
        log.write(b"%06d\n" % i)
        if i % 20 == 0:
            time.sleep(0.001)
"""


@contextmanager
def controlled_writer(path: Path, mode: str = "ab") -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CONTROLLED_WRITER, str(path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def write(proc: subprocess.Popen[str], first: int, stop: int) -> None:
    stdin: IO[str] | None = proc.stdin
    assert stdin is not None and proc.stdout is not None
    stdin.write(f"{first} {stop}\n")
    stdin.flush()
    assert proc.stdout.readline() == "ok\n"


def lines(first: int, stop: int) -> bytes:
    return b"".join(b"%06d\n" % i for i in range(first, stop))


def test_small_or_missing_files_are_left_alone(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    assert rotate_if_large(log, 100, 3) is False
    assert not log.exists()
    log.write_bytes(b"x" * 99)
    assert rotate_if_large(log, 100, 3) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.log"]
    with pytest.raises(ValueError):
        rotate_if_large(log, 0, 3)
    with pytest.raises(ValueError):
        rotate_if_large(log, 100, 0)


def test_rotation_keeps_the_content_and_the_file_mode(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_bytes(lines(0, 20))
    log.chmod(0o640)
    assert rotate_if_large(log, 100, 3) is True
    assert backup_path(log, 1).read_bytes() == lines(0, 20)
    assert stat.S_IMODE(backup_path(log, 1).stat().st_mode) == 0o640
    assert log.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.log", "server.log.1"]  # no temporary left


def test_live_writer_goes_on_at_offset_zero_of_the_emptied_file(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with controlled_writer(log) as writer:
        write(writer, 0, 100)
        assert rotate_if_large(log, 100 * LINE_BYTES, 5) is True
        write(writer, 100, 105)
        assert backup_path(log, 1).read_bytes() == lines(0, 100)
        # Exactly the new lines, from the first byte: no hole where the old content was.
        assert log.read_bytes() == lines(100, 105)
        assert rotate_if_large(log, 100 * LINE_BYTES, 5) is False
        write(writer, 105, 200)
        assert rotate_if_large(log, 100 * LINE_BYTES, 5) is True
        write(writer, 200, 201)
    assert backup_path(log, 2).read_bytes() == lines(0, 100)
    assert backup_path(log, 1).read_bytes() == lines(100, 200)
    assert log.read_bytes() == lines(200, 201)


def test_a_writer_not_in_append_mode_would_leave_a_hole(tmp_path: Path) -> None:
    # Why the supervisor must open the logs with "ab": the check above does catch a hole.
    log = tmp_path / "bad.log"
    with controlled_writer(log, "wb") as writer:
        write(writer, 0, 100)
        assert rotate_if_large(log, 100 * LINE_BYTES, 5) is True
        write(writer, 100, 101)
    assert log.read_bytes() == b"\0" * (100 * LINE_BYTES) + lines(100, 101)


def test_backups_beyond_the_limit_are_dropped(tmp_path: Path) -> None:
    log = tmp_path / "portal.log"
    for generation in range(6):
        with log.open("ab") as f:
            f.write(f"generation {generation}\n".encode())
        assert rotate_if_large(log, 1, 2) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["portal.log", "portal.log.1", "portal.log.2"]
    assert backup_path(log, 1).read_bytes() == b"generation 5\n"
    assert backup_path(log, 2).read_bytes() == b"generation 4\n"
    assert log.read_bytes() == b""


def test_rotation_while_a_child_writes_flat_out(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    count, max_bytes = 20_000, 8_000
    writer = subprocess.Popen([sys.executable, "-c", FREE_WRITER, str(log), str(count)])
    rotations = 0
    try:
        while writer.poll() is None:
            rotations += rotate_if_large(log, max_bytes, 100)
            time.sleep(0.002)
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == 0
    assert 3 <= rotations < 100, rotations  # it did rotate, and no backup was dropped

    files = [backup_path(log, n) for n in range(rotations, 0, -1)] + [log]
    numbers: list[int] = []
    for f in files:
        content = f.read_bytes()
        assert b"\0" not in content, f"hole in {f.name}"
        raw = content.splitlines()
        # A line caught in the rotation's window may be cut at the boundary of two files (the copy can
        # read a write in progress): only the last line of a file and the first of the next may be torn.
        if raw and not content.endswith(b"\n"):
            raw = raw[:-1]
        if raw and not LINE.fullmatch(raw[0]):
            raw = raw[1:]
        assert [x for x in raw if not LINE.fullmatch(x)] == [], f"torn lines inside {f.name}"
        found = [int(x) for x in raw]
        # Inside one file nothing is lost: copytruncate can lose lines only at a rotation.
        if found:
            assert found == list(range(found[0], found[0] + len(found))), f"lines lost inside {f.name}"
        if f != log:
            assert len(content) >= max_bytes, f"{f.name} rotated before it was large"
        numbers += found
    assert numbers == sorted(set(numbers)), "lines duplicated or out of order"
    assert numbers[0] == 0 and numbers[-1] == count - 1
    lost = count - len(numbers)
    assert lost < count // 20, f"{lost} lines lost in {rotations} rotations"


def test_rotate_all_rotates_each_large_log_of_the_folder(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    assert rotate_all(logs, 10, 2) == []  # no folder yet
    logs.mkdir()
    (logs / "server.log").write_bytes(b"s" * 50)
    (logs / "serve.log").write_bytes(b"r" * 5)
    (logs / "portal.log").write_bytes(b"p" * 10)
    (logs / "server.log.1").write_bytes(b"old" * 50)  # a backup is not a log to rotate
    (logs / "notes.txt").write_bytes(b"n" * 50)
    (logs / "dir.log").mkdir()
    assert rotate_all(logs, 10, 2) == [logs / "portal.log", logs / "server.log"]
    assert (logs / "server.log.1").read_bytes() == b"s" * 50
    assert (logs / "server.log.2").read_bytes() == b"old" * 50
    assert (logs / "serve.log").read_bytes() == b"r" * 5
    assert (logs / "notes.txt").read_bytes() == b"n" * 50
    assert not (logs / "server.log.1.1").exists()


def test_rotate_all_skips_a_file_it_cannot_rotate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.log").write_bytes(b"a" * 50)
    (tmp_path / "b.log").write_bytes(b"b" * 50)
    real = rotate_if_large

    def flaky(path: Path, max_bytes: int, backups: int) -> bool:
        if path.name == "a.log":
            raise OSError(28, "No space left on device")
        return real(path, max_bytes, backups)

    monkeypatch.setattr("cchc.app.logfiles.rotate_if_large", flaky)
    assert rotate_all(tmp_path, 10, 2) == [tmp_path / "b.log"]
