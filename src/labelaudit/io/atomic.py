"""Atomic outputs: write into a temporary sibling, then rename into place.

A crash or Ctrl-C leaves either the old output or the new one, never half of one. The temporary
siblings are named ``.labelaudit-tmp-*`` and removed on any failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from labelaudit.errors import OutputError

TMP_PREFIX = ".labelaudit-tmp-"


def check_writable(target: Path, *, force: bool, what: str = "output") -> None:
    """Fail early (before any work) if ``target`` cannot be written."""
    if target.exists() and not force:
        raise OutputError(f"{what} {target} already exists; pass --force to overwrite it or choose another path")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.exists():
        raise OutputError(f"directory {parent} does not exist; create it or choose another output path")
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to directory {parent}; choose a writable output path")


@contextlib.contextmanager
def atomic_directory(target: Path, *, force: bool) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces ``target`` in one rename."""
    target = Path(target)
    check_writable(target, force=force, what="audit directory")
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        if target.exists():
            trash = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=target.parent))
            os.replace(target, trash / "old")
            os.replace(tmp, target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(target: Path, *, force: bool) -> Iterator[Path]:
    """Yield a temporary file path next to ``target``; on success it is renamed onto ``target``."""
    target = Path(target)
    check_writable(target, force=force, what="output file")
    fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_files(targets: dict[str, Path], *, force: bool) -> Iterator[dict[str, Path]]:
    """Temporary siblings for several outputs, renamed onto their targets only once all are written."""
    for target in targets.values():
        check_writable(Path(target), force=force, what="output file")
    temps: dict[str, Path] = {}
    try:
        for key, target in targets.items():
            fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=Path(target).suffix, dir=Path(target).parent)
            os.close(fd)
            temps[key] = Path(name)
        yield temps
        for key, target in targets.items():
            os.chmod(temps[key], 0o644)
            os.replace(temps[key], target)
    except BaseException:
        for tmp in temps.values():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise
