"""Files a command in the sandbox could have planted, as the host reads and writes them: regular files only,
never through a symbolic link, never blocking on a FIFO or a device, and never more bytes than a cap."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_NO_SURPRISES = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class PlantedFile(OSError):
    """The path is not a regular file the host may use (a link, a FIFO, a device), or it is too big."""


def open_regular(path: Path, flags: int, mode: int = 0o644) -> int:
    """A descriptor of a regular file at path, opened without following a link or waiting for a FIFO."""
    try:
        fd = os.open(path, flags | _NO_SURPRISES, mode)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENXIO):  # a link; a FIFO with no reader
            raise PlantedFile(f"{path.name} is a link or a FIFO, not a regular file") from None
        raise
    kind = os.fstat(fd).st_mode
    if not stat.S_ISREG(kind):
        os.close(fd)
        raise PlantedFile(f"{path.name} is not a regular file ({_kind(kind)})")
    return fd


def read_regular(path: Path, limit: int) -> bytes:
    """At most limit bytes of a regular file; PlantedFile when it holds more (nothing more is read)."""
    fd = open_regular(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size > limit:
            raise PlantedFile(f"{path.name} is {size / 1e6:.1f} MB, over the {limit / 1e6:.1f} MB the host reads")
        data = file.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise PlantedFile(f"{path.name} is over the {limit / 1e6:.1f} MB the host reads")
    return data


def write_regular(path: Path, data: bytes) -> None:
    """Write data to a regular file (made if missing); a link or a FIFO in its place is refused."""
    fd = open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def replace_file(path: Path, data: bytes) -> None:
    """Put a new regular file in place of whatever is at path (a file, a link, a FIFO), never writing into it."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_SURPRISES, 0o644)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a link")):
        if test(mode):
            return name
    return "not a file"
