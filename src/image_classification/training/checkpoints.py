"""Whose checkpoint folder is it: resume only the same run, never share one between two live runs.

``<checkpoint_root>/<namespace>/`` outlives a run, so the next run may find state left by a run of other data,
other settings or another model, or by a run still going. Before a fit:

- **Lock.** The folder's ``lock`` file is locked (``fcntl.flock``, exclusive) for the whole fit. The operating
  system drops the lock when its process dies, however it dies, so a killed run never leaves a stale lock. A run
  that finds the lock held by a live run does not touch that run's state: it trains in a private folder
  (``concurrent/<pid>-<random>/``, itself locked, removed at the end) and says so. Both runs finish and neither can
  resume from or overwrite the other (failing instead would throw away the second run for no gain, and Kedro
  would fail every node after it).
- **Stamp.** ``run.json`` records what the state belongs to (``run_identity``): the model's architecture, a
  fingerprint of the training and validation arrays and class list, and every training setting that changes the
  result. A backup whose stamp differs (or which has none: left by an older version) is removed and the run starts
  fresh, saying why; a backup that matches is resumed.
- **Restore.** A matching backup that still cannot be restored (a file cut short when the run was killed while
  writing it) is rolled back, removed, and the run starts fresh, saying so (``state.SafeBackupAndRestore``): it
  never makes every later run fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # Keras is not imported here: the lock and stamp need none
    import keras

logger = logging.getLogger(__name__)

LOCK_FILE = "lock"
STAMP_FILE = "run.json"
CONCURRENT_DIR = "concurrent"
BEST_MODEL_FILE = "best.keras"
BACKUP_DIR = "backup"
#: How a part of ``run_identity`` is named when it differs.
_WHAT = {
    "data": "data (training/validation arrays or class list)",
    "model": "model architecture",
    "classifier": "classifier (the backbone under the head)",
}
#: Settings that change how a run reports, not what it computes.
_NEUTRAL_SETTINGS = ("verbose", "checkpoint_root")


#: Arrays up to this size are hashed whole; a larger one (a memory-mapped split of many GB) by ``_SAMPLED_ROWS`` rows.
_HASHED_WHOLE_BYTES = 64 * 2**20
_SAMPLED_ROWS = 256


def data_fingerprint(*splits: Mapping[str, np.ndarray], class_names: Sequence[str] | None = None) -> str:
    """BLAKE2b of each split's ``images`` and ``labels`` (shape, dtype and bytes) and of the class names.

    An array over 64 MiB contributes its shape, dtype and ``_SAMPLED_ROWS`` evenly spaced rows (first and last
    included) instead of every byte: reading a split of many GB from disk before each fit would cost more than the
    check is worth. Labels are always hashed whole; the fingerprint depends on the values only, not on whether the
    arrays are in memory or memory-mapped.
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps(list(class_names) if class_names is not None else None).encode())
    for split in splits:
        for key in ("images", "labels"):
            array = np.asarray(split[key])  # a view of a memory-mapped array: nothing is read yet
            digest.update(f"{key}{array.shape}{array.dtype.str}".encode())
            if array.nbytes > _HASHED_WHOLE_BYTES and array.ndim:
                rows = np.unique(np.linspace(0, len(array) - 1, _SAMPLED_ROWS).round().astype(np.int64))
                array = array[rows]
            digest.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data)  # the bytes, not copied
    return digest.hexdigest()


def architecture_fingerprint(model: keras.Model) -> str:
    """Hash of what a backup must fit: input and output shapes, and every weight's shape, dtype and trainability.

    Layer names are left out: Keras numbers them per process, so the same model built twice differs by name only.
    """
    parts = [
        str(model.input_shape),
        str(model.output_shape),
        *(f"{tuple(w.shape)}{w.dtype}{w.trainable}" for w in model.weights),
    ]
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()


def run_identity(
    model: keras.Model, data: str, settings: Mapping[str, Any], extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What a checkpoint folder's state must match to be resumed: model, data and result-changing settings."""
    return {
        "model": architecture_fingerprint(model),
        "data": data,
        "settings": {key: value for key, value in settings.items() if key not in _NEUTRAL_SETTINGS},
        **(extra or {}),
    }


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """What differs between two identities, in words: ``data (...), training settings (epochs 3 -> 4)``."""
    said = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key == "settings" and isinstance(before, dict) and isinstance(after, dict):
            changed = [f"{k} {before.get(k)!r} -> {after.get(k)!r}" for k in sorted(set(before) | set(after))
                       if before.get(k) != after.get(k)]  # fmt: skip
            said.append(f"training settings ({', '.join(changed)})")
        else:
            said.append(_WHAT.get(key, key))
    return ", ".join(said)


def _lock(path: Path) -> int | None:
    """An open descriptor of ``path`` holding its exclusive lock, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _try_lock(fd)
    except OSError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
    return fd


def _try_lock(fd: int) -> None:
    try:
        import fcntl  # noqa: PLC0415 - POSIX only
    except ImportError:  # Windows
        import msvcrt  # noqa: PLC0415

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _owner(path: Path) -> str:
    try:
        owner = json.loads(path.read_text())
        return f"process {owner['pid']} on {owner['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def clear_state(folder: Path) -> None:
    """Removes the resumable state of ``folder``: its backup and best checkpoint."""
    shutil.rmtree(folder / BACKUP_DIR, ignore_errors=True)
    (folder / BEST_MODEL_FILE).unlink(missing_ok=True)


def _remove_abandoned(folder: Path) -> None:
    """Removes private folders of concurrent runs that are over (their lock is free: the run ended or died)."""
    for private in sorted((folder / CONCURRENT_DIR).glob("*")):
        fd = _lock(private / LOCK_FILE) if private.is_dir() else None
        if fd is not None:
            os.close(fd)
            shutil.rmtree(private, ignore_errors=True)


@contextlib.contextmanager
def claim_checkpoint_folder(folder: str | Path, identity: Mapping[str, Any]) -> Iterator[Path]:
    """Locks ``folder`` for one fit and makes sure its state, if any, is this run's to resume.

    Args:
        folder: The model's checkpoint folder, ``<checkpoint_root>/<namespace>``.
        identity: ``run_identity`` of this run.

    Yields:
        The folder to keep the best checkpoint and backup in: ``folder``, or a private folder when a live run holds
        ``folder`` (see the module's docstring).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = _lock(folder / LOCK_FILE)
    if fd is None:
        (folder / CONCURRENT_DIR).mkdir(exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=folder / CONCURRENT_DIR))
        private_fd = _lock(private / LOCK_FILE)
        logger.warning(
            "The checkpoint folder %s is in use by %s (a run of the same model still training): this run neither "
            "resumes nor touches its state; it keeps its own in %s, removed when it ends, and cannot be resumed.",
            folder, _owner(folder / LOCK_FILE), private,
        )
        try:
            yield private
        finally:
            if private_fd is not None:
                os.close(private_fd)
            shutil.rmtree(private, ignore_errors=True)
        return
    try:
        _remove_abandoned(folder)
        _check_stamp(folder, dict(identity))
        yield folder
    finally:
        os.close(fd)  # releases the lock


def _check_stamp(folder: Path, identity: dict[str, Any]) -> None:
    """Clears state that is not this run's, then stamps the folder with this run's identity."""
    identity = json.loads(json.dumps(identity))  # as it reads back from the stamp
    stamp_path = folder / STAMP_FILE
    try:
        stamp = json.loads(stamp_path.read_text()) if stamp_path.exists() else None
    except (OSError, ValueError):
        stamp = f"unreadable {STAMP_FILE}"
    has_backup = (folder / BACKUP_DIR).exists()
    if stamp == identity:
        if has_backup:
            logger.info("Resuming the interrupted run of the same model, data and settings from %s.", folder)
        return
    if has_backup:
        if stamp is None:
            why = f"it has no {STAMP_FILE} (left by an older version), so whose run it was is unknown"
        elif isinstance(stamp, dict):
            why = f"it belongs to a run with different {_differences(stamp, identity)}"
        else:
            why = f"its {STAMP_FILE} cannot be read"
        logger.warning("Not resuming from the backup in %s: %s. Training from scratch.", folder, why)
    clear_state(folder)
    stamp_path.write_text(json.dumps(identity, indent=1))
