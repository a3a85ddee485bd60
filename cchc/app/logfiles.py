"""Size-based rotation of the log files under CCHC_HOME/logs, by copy and truncate.

The children of `cchc up` write their stdout and stderr straight into ``<name>.log``, a file
the supervisor opened in append mode and handed over; it cannot make them reopen it. So a
rotation copies ``x.log`` to ``x.log.1`` (after shifting ``x.log.1`` -> ``x.log.2`` ... and dropping
the oldest) and then truncates ``x.log`` to zero. A writer in append mode (O_APPEND) writes
at the current end of the file, which is now 0, so the live file starts again at offset 0,
with no hole of NUL bytes. (A writer that did not open the file in append mode would keep
its old offset and leave a hole: every log the supervisor opens is opened with "ab".)

What can be lost: bytes a child appends after the copy has read to the end of the file and
before the truncate. The copy reads until end-of-file and truncates right after, through the
same descriptor, so the window is one system call; each rotation may lose the lines written in
it, and nothing else.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024


def backup_path(path: Path, n: int) -> Path:
    """``x.log`` -> ``x.log.<n>``."""
    return path.with_name(f"{path.name}.{n}")


def rotate_if_large(path: Path, max_bytes: int, backups: int) -> bool:
    """Rotate ``path`` if it holds ``max_bytes`` or more; keep ``backups`` old copies. True if rotated."""
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be > 0, not {max_bytes}")
    if backups < 1:
        raise ValueError(f"backups must be >= 1, not {backups}")
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    with os.fdopen(fd, "r+b", buffering=0) as live:
        st = os.fstat(live.fileno())
        if st.st_size < max_bytes:
            return False
        # Make room for the new .1: drop the oldest, shift the others up by one.
        backup_path(path, backups).unlink(missing_ok=True)
        for n in range(backups - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                backup_path(path, n).replace(backup_path(path, n + 1))
        # Copy into a temporary name first, so a crash never leaves a half-written .1.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        out_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, st.st_mode & 0o777)
        try:
            with os.fdopen(out_fd, "wb") as out:
                # Read to the end as it is now, not as it was at stat(): the writers keep going.
                while chunk := live.read(_CHUNK):
                    out.write(chunk)
                live.truncate(0)
            tmp.replace(backup_path(path, 1))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return True


def rotate_all(log_dir: Path, max_bytes: int, backups: int) -> list[Path]:
    """Rotate every ``*.log`` in ``log_dir`` that is large enough; the ones rotated, in name order.

    Meant to be called from a long-running loop: a file that cannot be rotated (permissions,
    disk full) is logged and skipped, so a logging problem never stops the service.
    """
    if not log_dir.is_dir():
        return []
    rotated = []
    for path in sorted(log_dir.glob("*.log")):
        if not path.is_file():
            continue
        try:
            if rotate_if_large(path, max_bytes, backups):
                rotated.append(path)
        except OSError as e:
            log.warning("could not rotate %s: %s", path, e)
    return rotated
