"""Atomic outputs: write into a temporary sibling, then rename into place — never over an input.

A crash or Ctrl-C leaves either the old output or the new one, never half of one. Temporary siblings
are named ``.labelaudit-tmp-<pid>-*``: removed on any failure, and — when a process was killed
(SIGKILL, power loss) before it could remove them — by the next write into the same folder, once
their process is gone.

Guards, whatever ``--force`` says: an output may not be an input, nor a folder that holds an input;
``--force`` replaces only what labelaudit itself wrote there before (an audit directory, a model
directory, or a file); and without ``--force`` the final rename never replaces a target that
appeared while the work ran (another scan into the same ``--out``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from labelaudit.errors import OutputError

TMP_PREFIX = ".labelaudit-tmp-"
#: what a ``--force``d directory must already be: its marker file and the schema it holds
DIR_KINDS = {
    "audit": ("manifest.json", "labelaudit audit"),
    "model": ("model.json", "labelaudit model directory"),
    "argilla": (".argilla/dataset.json", "Argilla export folder written by labelaudit"),
}
_STARTED = time.time()


def _resolve(p: Path | str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(p))))


def _guard_inputs(target: Path, inputs: Iterable[Path | str | None], what: str) -> None:
    t = _resolve(target)
    real_t = Path(os.path.realpath(t))
    for inp in inputs:
        if inp is None:
            continue
        i, real_i = _resolve(inp), Path(os.path.realpath(_resolve(inp)))
        if i == t or real_i == real_t or (t.exists() and i.exists() and os.path.samefile(i, t)):
            raise OutputError(
                f"{what} {target} is an input of this command ({inp}); labelaudit never overwrites its input: "
                "choose another output path"
            )
        if real_i.is_relative_to(real_t) or i.is_relative_to(t):
            raise OutputError(
                f"{what} {target} holds an input of this command ({inp}); replacing it would delete that "
                "input: choose another output path"
            )


def is_labelaudit_dir(path: Path, kind: str) -> bool:
    """Whether ``path`` is a directory labelaudit wrote (an audit or a model directory)."""
    marker, _ = DIR_KINDS[kind]
    try:
        meta = json.loads((Path(path) / marker).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict):
        return False
    if kind == "audit":
        return meta.get("tool", {}).get("name") == "labelaudit" if isinstance(meta.get("tool"), dict) else False
    if kind == "argilla":
        return str(meta.get("name", "")).startswith("labelaudit-")
    return str(meta.get("schema", "")).startswith("labelaudit.model/")


def check_writable(
    target: Path,
    *,
    force: bool,
    what: str = "output",
    inputs: Iterable[Path | str | None] = (),
    kind: str = "file",
) -> None:
    """Fail early (before any work) if ``target`` cannot or must not be written.

    ``kind``: ``file``, or ``audit`` / ``model`` for a directory that ``--force`` may replace only when
    labelaudit wrote it.
    """
    target = Path(target)
    _guard_inputs(target, inputs, what)
    if target.exists() or target.is_symlink():
        if not force:
            raise OutputError(f"{what} {target} already exists; pass --force to overwrite it or choose another path")
        if kind == "file" and target.is_dir():
            raise OutputError(f"{what} {target} is a directory; --force replaces files only: choose a file path")
        if kind != "file" and not is_labelaudit_dir(target, kind):
            label = DIR_KINDS[kind][1]
            raise OutputError(
                f"{what} {target} exists and is not a {label}; --force replaces only what labelaudit wrote: "
                "remove it yourself or choose another path"
            )
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.exists():
        raise OutputError(f"directory {parent} does not exist; create it or choose another output path")
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to directory {parent}; choose a writable output path")


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove ``.labelaudit-tmp-*`` entries in ``folder`` left by processes that are gone; return them."""
    removed: list[Path] = []
    try:
        entries = list(Path(folder).glob(f"{TMP_PREFIX}*"))
    except OSError:
        return removed
    for entry in entries:
        if _owner_alive(entry.name[len(TMP_PREFIX) :].split("-", 1)[0]):
            continue
        try:
            if entry.lstat().st_mtime >= _STARTED:
                continue  # made after this process started: not a leftover of an earlier run
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue
        removed.append(entry)
    return removed


def _owner_alive(pid_text: str) -> bool:
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _tmp_prefix() -> str:
    return f"{TMP_PREFIX}{os.getpid()}-"


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``, failing with FileExistsError if ``dst`` exists (atomically on Linux)."""
    renameat2 = getattr(_libc(), "renameat2", None) if os.name == "posix" else None
    if renameat2 is not None:
        at_fdcwd, rename_noreplace = -100, 1
        if renameat2(at_fdcwd, os.fsencode(str(src)), at_fdcwd, os.fsencode(str(dst)), rename_noreplace) == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(dst))
    # no renameat2 (or a filesystem without it): check, then rename (a non-empty directory is never replaced)
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)


@contextlib.contextmanager
def _suppress_missing():
    with contextlib.suppress(FileNotFoundError):
        yield


_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL | None:
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL(None, use_errno=True)
        except OSError:
            return None
    return _LIBC


def _appeared(target: Path, what: str) -> OutputError:
    return OutputError(
        f"{what} {target} appeared while this command ran (another run writing there?); it was not replaced "
        "and nothing was written: choose another path, or pass --force to replace it"
    )


@contextlib.contextmanager
def atomic_directory(
    target: Path, *, force: bool, inputs: Iterable[Path | str | None] = (), kind: str = "audit"
) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces ``target`` in one rename."""
    target = Path(target)
    inputs = list(inputs)
    what = {"audit": "audit directory", "model": "model directory"}.get(kind, "output folder")
    check_writable(target, force=force, what=what, inputs=inputs, kind=kind)
    remove_stale_temps(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(), dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        if not force:
            try:
                _rename_noreplace(tmp, target)
            except FileExistsError:
                raise _appeared(target, what) from None
        else:
            check_writable(target, force=True, what=what, inputs=inputs, kind=kind)  # still only our own kind
            if target.exists():
                trash = Path(tempfile.mkdtemp(prefix=_tmp_prefix(), dir=target.parent))
                os.replace(target, trash / "old")
                os.replace(tmp, target)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _place_file(tmp: Path, target: Path, *, force: bool, what: str) -> None:
    os.chmod(tmp, 0o644)
    if force:
        os.replace(tmp, target)
        return
    try:
        _rename_noreplace(tmp, target)
    except FileExistsError:
        raise _appeared(target, what) from None


@contextlib.contextmanager
def atomic_file(target: Path, *, force: bool, inputs: Iterable[Path | str | None] = ()) -> Iterator[Path]:
    """Yield a temporary file path next to ``target``; on success it is renamed onto ``target``."""
    target = Path(target)
    check_writable(target, force=force, what="output file", inputs=inputs)
    remove_stale_temps(target.parent)
    fd, name = tempfile.mkstemp(prefix=_tmp_prefix(), suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _place_file(tmp, target, force=force, what="output file")
    except BaseException:
        with _suppress_missing():
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_files(
    targets: dict[str, Path], *, force: bool, inputs: Iterable[Path | str | None] = ()
) -> Iterator[dict[str, Path]]:
    """Temporary siblings for several outputs, renamed onto their targets only once all are written."""
    inputs = list(inputs)
    for target in targets.values():
        check_writable(Path(target), force=force, what="output file", inputs=inputs)
    for folder in {Path(t).parent for t in targets.values()}:
        remove_stale_temps(folder)
    temps: dict[str, Path] = {}
    placed: list[Path] = []
    try:
        for key, target in targets.items():
            fd, name = tempfile.mkstemp(prefix=_tmp_prefix(), suffix=Path(target).suffix, dir=Path(target).parent)
            os.close(fd)
            temps[key] = Path(name)
        yield temps
        for key, target in targets.items():
            _place_file(temps[key], Path(target), force=force, what="output file")
            placed.append(Path(target))
    except BaseException:
        for tmp in temps.values():
            with _suppress_missing():
                tmp.unlink()
        if not force:  # a later target appeared meanwhile: take back the ones this call placed
            for p in placed:
                with _suppress_missing():
                    p.unlink()
        raise
