"""Files written atomically: a reader never sees a partial file, an interrupted write leaves none behind.

Writes go to a temporary file in the target folder (``.NAME.HOST.PID.XXXXXXXX.tmp``),
are synced and renamed over the target, so a reader never sees a partial file.
A write interrupted by SIGKILL (or a crash) leaves its temporary file behind:
the next write into the same folder removes those whose process is gone (same
host, dead process; or older than a day when they name no process).  The
command line also removes its own on SIGTERM and SIGHUP
(:func:`remove_own_temporaries`).  A new file gets the mode of the umask
(:func:`file_mode`), and a folder that cannot be written is one
:class:`~simulator.errors.UserError` line naming the path.

Results files (:mod:`simulator.results.io`), CSV tables (:mod:`simulator.results.export`),
batch summaries, reports and the generated docs are all written through here.

May import: :mod:`simulator.errors` only.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from simulator.errors import UserError

__all__ = ["atomic_file", "file_mode", "remove_own_temporaries", "remove_stale_temporaries", "write_atomic",
           "write_text_atomic"]

#: A temporary file of ours: ``.NAME.HOST.PID.RANDOM.tmp`` (mkstemp's random part has no dots).
_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9_-]*)\.(?P<pid>\d+)\.[^.]+\.tmp$")
#: A temporary file that names no process is stale after this many seconds.
_TMP_MAX_AGE = 86_400.0
#: Temporary files this process is writing (removed by remove_own_temporaries on a signal).
_OWN: set[str] = set()
# Re-entrant: the signal handler (remove_own_temporaries) runs in the main thread, which may hold it.
_OWN_LOCK = threading.RLock()


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:32] or "host"


def _is_stale(tmp: Path) -> bool:
    """Whether a temporary file was left by a process that no longer writes it."""
    match = _TMP.match(tmp.name)
    if match and match["host"] == _host():
        pid = int(match["pid"])
        if pid == os.getpid():
            # This process removes its own (on error, on a signal); another of its threads may be
            # between creating one and registering it.
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # alive, another user's
            return False
        return False
    try:  # another host's, or an old name without a process: by age
        return time.time() - tmp.stat().st_mtime > _TMP_MAX_AGE
    except OSError:
        return False


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files of interrupted writes in ``folder``; returns those removed."""
    removed = []
    with contextlib.suppress(OSError):
        for tmp in Path(folder).glob(".*.tmp"):
            if tmp.is_file() and _is_stale(tmp):
                with contextlib.suppress(OSError):
                    tmp.unlink()
                    removed.append(tmp)
    return removed


def remove_own_temporaries() -> None:
    """Delete the temporary files this process is writing (called on SIGTERM or SIGHUP)."""
    with _OWN_LOCK:
        own = list(_OWN)
        _OWN.clear()
    for tmp in own:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def _temporary(path: Path) -> Iterator[tuple[int, str]]:
    """A new temporary file beside ``path`` (fd, name), registered until it is renamed or removed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{path}: cannot create its folder {path.parent} ({exc.strerror or exc})") from None
    remove_stale_temporaries(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_host()}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UserError(f"{path}: cannot write into {path.parent} ({exc.strerror or exc})") from None
    with _OWN_LOCK:
        _OWN.add(tmp)
    try:
        yield fd, tmp
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        with _OWN_LOCK:
            _OWN.discard(tmp)


def _replace(tmp: str, path: Path) -> None:
    """Rename the finished temporary file over ``path``; one line naming ``path`` if that fails."""
    try:
        os.replace(tmp, path)
    except OSError as exc:
        reason = "it is a folder" if path.is_dir() else (exc.strerror or str(exc))
        raise UserError(f"{path}: cannot write there ({reason})") from None
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # The rename itself is durable only once the folder is synced (POSIX).
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "wb") -> Iterator[io.IOBase]:
    """Write ``path`` through a temporary file in its folder: fsync, then rename.

    A reader never sees a partial file, and an interrupted write leaves the old
    file (if any) untouched.
    """
    path = Path(path)
    with _temporary(path) as (fd, tmp):
        os.fchmod(fd, file_mode())  # mkstemp makes it private (0600); results are ordinary files
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _replace(tmp, path)


def write_atomic(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file in the target folder, fsync it, rename it over ``path``."""
    path = Path(path)
    with _temporary(path) as (fd, tmp):
        os.close(fd)
        os.chmod(tmp, file_mode())
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        _replace(tmp, path)
    return path


def file_mode() -> int:
    """Permissions of a new ordinary file under the current umask (``0o666 & ~umask``)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write text atomically (temporary file in the same folder, then a rename)."""
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8", newline="\n"))
