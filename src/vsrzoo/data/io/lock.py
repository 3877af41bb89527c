"""Exclusive output lock: one run writes one output path at a time (``flock`` on ``.NAME.lock``).

A second run to the same output fails at once with :class:`OutputBusyError` instead of
interleaving with the first. Nothing here is ever opened through a symbolic link: the lock file
is created with ``O_NOFOLLOW`` and must be a plain file with one link, and a link planted where
vsrzoo creates its own file is refused with a one-line error and left alone.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from vsrzoo.errors import UserError

try:  # POSIX; elsewhere the lock falls back to exclusive creation of the lock file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class OutputBusyError(UserError):
    """The output is locked by another live run (``pid`` is what its lock file says, or '')."""

    def __init__(self, path: Path, pid: str):
        owner = f" (pid {pid})" if pid else ""
        super().__init__(
            f"{path} is being written by another vsrzoo run{owner}; wait for it to finish or choose another output"
        )
        self.pid = pid


def planted_link(path: Path, output: Path, role: str) -> UserError:
    """The error for a symbolic link where vsrzoo creates its own file: it is never followed or removed."""
    return UserError(
        f"cannot write {output}: its {role} {path.name} is a symbolic link, which vsrzoo never follows "
        "or removes; remove it yourself if it is stale"
    )


NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # 0 where the platform has no such flag (Windows)


class OutputLock:
    """An exclusive lock on an output path for one run: ``flock`` on a sibling ``.NAME.lock`` file.

    Creating the lock file is also the check that the output folder is writable. The file is
    removed on release (the lock holder unlinks it before closing, and a new holder checks that
    the file it locked is still the one on disk, so removal cannot let two runs in). The lock
    file is opened with ``O_NOFOLLOW`` and must be a plain file with one link before anything is
    written to it: a link planted in a shared folder never redirects the PID write to a victim.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.file = self.path.with_name(f".{self.path.name}.lock")
        self.fd: int | None = None
        while self.fd is None:
            fd = self._open()
            if fcntl is not None and not self._lock(fd):
                continue
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            self.fd = fd

    def _open(self) -> int:
        """The lock file's descriptor, never through a link and only if it is a plain, singly linked file."""
        flags = os.O_RDWR | os.O_CREAT | NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | (0 if fcntl else os.O_EXCL)
        if self.file.is_symlink():
            raise planted_link(self.file, self.path, "lock file")
        try:
            fd = os.open(self.file, flags, 0o644)
        except FileExistsError:
            raise OutputBusyError(self.path, _read_pid(self.file)) from None
        except OSError as exc:
            if self.file.is_symlink():  # planted between the check and the open (ELOOP)
                raise planted_link(self.file, self.path, "lock file") from None
            raise UserError(
                f"cannot write {self.path}: cannot create files in {self.path.parent} ({exc.strerror})"
            ) from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            os.close(fd)
            raise UserError(
                f"cannot write {self.path}: its lock file {self.file.name} is not a plain file with one link; "
                "vsrzoo never writes to it: remove it yourself if it is stale"
            )
        return fd

    def _lock(self, fd: int) -> bool:
        """``flock`` ``fd``; False when the file it names was removed meanwhile (try again)."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = _read_fd(fd)
            os.close(fd)
            raise OutputBusyError(self.path, pid) from None
        try:
            current = os.stat(self.file, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if not current:  # the previous holder removed it between our open and flock
            os.close(fd)
        return current

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            if os.stat(self.file, follow_symlinks=False).st_ino == os.fstat(self.fd).st_ino:
                self.file.unlink()  # only the file we hold, never a link put in its place
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None


def _read_fd(fd: int) -> str:
    """The PID a lock file holds (at most 20 bytes, from our own descriptor), or ''."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 20).decode("ascii", "replace").strip()
    except OSError:
        return ""


def _read_pid(path: Path) -> str:
    """The PID in a lock file we could not create, read without following a link."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return ""
    try:
        return _read_fd(fd)
    finally:
        os.close(fd)
