"""A versioned fsspec file dataset whose saves are atomic (``atomic_writes``): bytes land under a temporary name first.

A run killed mid-save must never leave a half-written file that a later run loads as the latest version.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)

from image_classification.datasets.atomic_writes import atomic_save


class AtomicFileDataset(AbstractVersionedDataset[Any, Any]):
    """Base class: subclasses turn objects into bytes (``_to_bytes``) and back (``_from_bytes``)."""

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath, version)
        fs_args = deepcopy(fs_args) or {}
        if protocol == "file":
            fs_args.setdefault("auto_mkdir", True)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(deepcopy(credentials) or {}), **fs_args)
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def _to_bytes(self, data: Any) -> bytes:
        raise NotImplementedError

    def _from_bytes(self, payload: bytes) -> Any:
        raise NotImplementedError

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version}

    def load(self) -> Any:
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(load_path, "rb") as stream:
            return self._from_bytes(stream.read())

    def save(self, data: Any) -> None:
        payload = self._to_bytes(data)
        try:
            with atomic_save(self) as save_path, self._fs.open(save_path, "wb") as stream:
                stream.write(payload)
        except DatasetError:
            raise
        except Exception as exc:
            raise DatasetError(f"Could not save {type(data).__name__} to '{self._filepath}': {exc}") from exc
        self._invalidate_cache()

    def _exists(self) -> bool:
        try:
            load_path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(load_path)

    def _release(self) -> None:
        super()._release()
        self._invalidate_cache()

    def _invalidate_cache(self) -> None:
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))
