"""The run folder and the prediction cache: atomic writes, resume from what finished."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any


class FolderNotWritable(Exception):
    """A folder the run must write (the run folder, the cache) cannot be written (exit 2)."""


def require_writable_dir(path: Path, what: str, option: str) -> None:
    """Make ``path`` (and its parents) and prove a file can be written in it, so that a
    read-only or mistaken ``--out``/``--cache-dir`` fails before any model loads."""
    try:
        if path.exists() and not path.is_dir():
            raise FolderNotWritable(
                f"{what} {path} exists and is not a folder: give {option} a folder path"
            )
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".tvp-write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise FolderNotWritable(
            f"cannot write into {what} {path} ({reason}): give {option} a folder you can write"
        ) from None


def write_file_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` into a temporary sibling, then rename it into place, so readers never see
    a half-written file (also for libraries that want a path: a spreadsheet, a CSV)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; run-folder files are ordinary files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    write_file_atomic(path, write)


def write_dir_atomic(
    target: Path,
    fill: Callable[[Path], None],
    *,
    keep_complete: Callable[[Path], bool] | None = None,
) -> None:
    """Build a folder with ``fill(staging)`` beside ``target``, then swap it in: readers see
    the old folder or the whole new one, never a half-written one.

    ``keep_complete`` is for folders named by a hash of their content (the caches): when
    another run already put a folder there that it says is complete, that copy is kept and
    this one dropped, so two runs sharing a cache never replace a folder the other may be
    reading; an incomplete one is replaced."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        fill(staging)
        staging.chmod(0o755)  # mkdtemp makes it private; these are ordinary folders
        if keep_complete is not None:
            try:
                os.rename(staging, target)  # fails when a non-empty target is there
                return
            except OSError:
                if not target.is_dir():
                    raise
                if keep_complete(target):
                    return
        shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(staging, target)
        except OSError:
            if keep_complete is None or not keep_complete(target):
                raise  # (another run's complete copy landed in between: keep it)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def exclusive_lock(
    path: Path, on_wait: Callable[[], None], on_unsupported: Callable[[str], None]
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the block: a second run
    that wants the same cache entry waits here, then finds it finished. The kernel releases
    the lock when its holder dies, even by kill -9. Where the file system cannot lock (some
    network mounts; Windows has no ``fcntl``), the block runs unlocked after
    ``on_unsupported(reason)``: runs sharing that cache may then compute the same entry
    twice, each writing it atomically."""
    try:
        import fcntl
    except ImportError:
        on_unsupported("this platform has no fcntl")
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
    except OSError as exc:
        on_unsupported(f"cannot open {path}: {exc.strerror or exc}")
        yield
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as exc:
            on_unsupported(f"{path.parent} cannot be locked: {exc.strerror or exc}")
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def path_digest(path: Path) -> str | None:
    """sha256 over a file, or over every file under a folder (relative names and contents);
    None when the path does not exist."""
    digest = hashlib.sha256()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
    else:
        return None
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() if file != path else b"")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def content_key(payload: dict[str, Any]) -> str:
    """A stable hash of a JSON-able payload (sorted keys)."""
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()


class PredictionCache:
    """Model outputs keyed by content hash (model, prompt, decoding), in SQLite with JSON values.

    Each entry is committed as soon as it is computed, so a run killed at any point loses at
    most the batch in flight. ``read=False`` (the CLI's --no-cache) recomputes and overwrites.
    """

    def __init__(self, path: Path, read: bool = True):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.read = read
        self._db = sqlite3.connect(str(path), timeout=60)
        # Several runs may share one cache: switching to WAL (readers never block the
        # writer) and creating the table take a lock that SQLite's busy timeout does not
        # always wait for, so a run that meets another's lock tries again.
        for attempt in range(50):
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                )
                self._db.commit()
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.1 + 0.01 * attempt)

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.read:
            return None
        row = self._db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_many(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)",
            [(k, json.dumps(v, ensure_ascii=False)) for k, v in items],
        )
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> PredictionCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
