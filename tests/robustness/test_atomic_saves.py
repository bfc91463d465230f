"""A save that fails half way (a full disk, a serialiser that raises) leaves the previous version the latest.

The datasets come from the project's own catalog (``conf/base``), built in a scratch folder. A full disk is simulated
below the code under test: fsspec's local file ``write`` stores the first bytes it is given, then raises ENOSPC.
"""

from __future__ import annotations

import errno
import re
import uuid
from pathlib import Path

import fsspec
import matplotlib
import numpy as np
import pandas as pd
import pytest
from fsspec.implementations.local import LocalFileOpener
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro.io.core import DatasetError, Version, parse_dataset_definition
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import ParquetDataset
from PIL import Image

from image_classification.datasets import AtomicJSONDataset, AtomicPickleDataset
from image_classification.datasets.atomic_file import AtomicFileDataset
from image_classification.datasets.atomic_writes import AtomicSaveMixin

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402 - after choosing the non-interactive backend

FIRST, SECOND = "2024-01-01T00.00.00.000Z", "2024-01-02T00.00.00.000Z"  # SECOND would be the latest if it stayed


def _figure(colour: str) -> Figure:
    figure = Figure(figsize=(1, 1))
    figure.add_subplot().bar([0, 1], [1, 2], color=colour)
    return figure


LONG_TABLE = pd.DataFrame({"n": range(5000)})
# kind of catalog entry -> (data saved first, data whose save hits the full disk); "unversioned" is a plain JSON file
KINDS = {
    "AtomicParquetDataset": (pd.DataFrame({"path": ["a.jpg", "b.jpg"], "label": ["x", "y"]}), LONG_TABLE),
    "AtomicCSVDataset": (pd.DataFrame({"file": ["a.jpg"], "problem": ["unreadable"]}), LONG_TABLE),
    "AtomicJSONDataset": (["cat", "dog"], [f"class_{index}" for index in range(3000)]),
    "AtomicPickleDataset": ({"accuracy": 0.5}, {"accuracy": np.zeros(5000)}),
    "AtomicMatplotlibDataset": (_figure("red"), _figure("blue")),
    "AtomicImageDataset": (Image.new("RGB", (4, 4), "red"), Image.effect_noise((400, 400), 64).convert("RGB")),
    "AtomicTextDataset": ("# Report\n", "# Report\n" + "text " * 5000),
    "NumpyArraysDataset": ({"labels": np.arange(3)}, {"labels": np.arange(5000)}),
    "unversioned": (["cat", "dog"], ["a"] * 3000),  # the old file must survive as it was
}


def _catalog_config(project_root: Path) -> dict:
    return OmegaConfigLoader(str(project_root / "conf"), default_run_env="local")["catalog"]


def _entry_of_kind(config: dict, kind: str) -> str:
    """A dataset name of the project's catalog of that kind (a factory pattern filled in with ``a``)."""
    for pattern, entry in config.items():
        versioned = bool(entry.get("versioned"))
        if "filepath" in entry and (
            (kind == "unversioned" and not versioned and entry["type"].endswith("JSONDataset"))
            or (versioned and entry["type"].rsplit(".", 1)[-1] == kind)
        ):
            return re.sub(r"\{[^}]*\}", "a", pattern)
    raise AssertionError(f"the catalog has no {kind} entry any more: update KINDS")


def _catalog(config: dict, save_version: str | None = None) -> DataCatalog:
    return DataCatalog.from_config(config, save_version=save_version)


def _data_tree() -> tuple[dict[str, bytes], list[str]]:
    """Every file (versions, hidden temporary files) with its bytes, and every folder, under the scratch ``data/``."""
    paths = sorted(Path("data").rglob("*"))
    return {path.as_posix(): path.read_bytes() for path in paths if path.is_file()}, [
        path.as_posix() for path in paths if path.is_dir()
    ]


@pytest.fixture
def full_disk(monkeypatch):
    """Once ``state["bytes_left"]`` is set, local writes store that many more bytes and then fail with ENOSPC."""
    write = LocalFileOpener.write
    state: dict[str, int | None] = {"bytes_left": None}

    def write_until_full(self, data, *args, **kwargs):
        left = state["bytes_left"]
        if left is None or len(data) <= left:
            state["bytes_left"] = None if left is None else left - len(data)
            return write(self, data, *args, **kwargs)
        write(self, bytes(data)[:left])
        state["bytes_left"] = 0
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(LocalFileOpener, "write", write_until_full)
    return state


@pytest.fixture
def catalog_config(project_root, tmp_path, monkeypatch) -> dict:
    monkeypatch.chdir(tmp_path)  # the catalog's paths are relative to the project folder
    return _catalog_config(project_root)


def test_every_file_dataset_in_the_catalogs_saves_atomically(project_root):
    entries = _catalog_config(project_root)
    file_entries = {name: entry for name, entry in entries.items() if "filepath" in entry}

    kinds = {name: parse_dataset_definition(dict(entry))[0] for name, entry in file_entries.items()}

    assert len(kinds) >= 15
    plain = [name for name, kind in kinds.items() if not issubclass(kind, AtomicSaveMixin | AtomicFileDataset)]
    assert not plain, f"catalog entries that would write in place: {plain}"


@pytest.mark.parametrize("kind", KINDS)
def test_a_full_disk_during_a_save_leaves_the_previous_version_the_latest(kind, catalog_config, full_disk):
    name, (first, second) = _entry_of_kind(catalog_config, kind), KINDS[kind]
    _catalog(catalog_config, FIRST).save(name, first)
    before = _data_tree()

    full_disk["bytes_left"] = 16  # the second save writes some bytes, then the disk is full
    with pytest.raises(DatasetError, match="No space left on device"):
        _catalog(catalog_config, SECOND).save(name, second)
    full_disk["bytes_left"] = None

    assert _data_tree() == before  # no truncated or temporary file, no empty version folder, old bytes untouched
    if isinstance(first, Figure):  # figures are write-only: the latest file is still the first, whole PNG
        assert _catalog(catalog_config).get(name)._get_load_path().parent.name == FIRST
        return
    loaded = _catalog(catalog_config).load(name)
    if isinstance(first, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, first)
    elif kind == "NumpyArraysDataset":
        np.testing.assert_array_equal(loaded["labels"], first["labels"])
    elif kind == "AtomicImageDataset":
        np.testing.assert_array_equal(np.asarray(loaded.convert("RGB")), np.asarray(first))
    else:
        assert loaded == first


def test_the_simulated_full_disk_leaves_kedros_own_parquet_dataset_truncated(tmp_path, full_disk):
    """The issue as reported: the plain dataset's half-written manifest becomes the latest version."""
    path = str(tmp_path / "manifest.parquet")
    ParquetDataset(filepath=path, version=Version(None, FIRST)).save(pd.DataFrame({"n": [1]}))

    full_disk["bytes_left"] = 16
    with pytest.raises(DatasetError, match="No space left on device"):
        ParquetDataset(filepath=path, version=Version(None, SECOND)).save(pd.DataFrame({"n": range(5000)}))
    full_disk["bytes_left"] = None

    with pytest.raises(DatasetError, match="Parquet magic bytes not found"):
        ParquetDataset(filepath=path, version=Version(None, None)).load()


class _FailsToPickle:
    def __reduce__(self):
        raise RuntimeError("cannot pickle this")


BROKEN_JSON = ["x" * 100] * 1000 + [object()]  # json.dump writes the strings, then fails on the object
# kind -> (dataset, first data, data whose serialiser raises after writing part of it)
SERIALISERS = {
    "json": (AtomicJSONDataset, ["ok"], BROKEN_JSON),
    "pickle": (AtomicPickleDataset, {"ok": 1}, [bytes(200_000), _FailsToPickle()]),
}


@pytest.mark.parametrize("kind", SERIALISERS)
def test_a_serialiser_failing_half_way_leaves_no_new_version(kind, tmp_path):
    atomic, first, broken = SERIALISERS[kind]
    path = str(tmp_path / f"data.{kind}")
    atomic(filepath=path, version=Version(None, FIRST)).save(first)

    with pytest.raises(DatasetError):
        atomic(filepath=path, version=Version(None, SECOND)).save(broken)

    assert sorted(entry.name for entry in Path(path).iterdir()) == [FIRST]  # no new version folder
    assert [entry.name for entry in (Path(path) / FIRST).iterdir()] == [f"data.{kind}"]  # no temporary file
    assert atomic(filepath=path, version=Version(None, None)).load() == first


def test_a_failing_json_serialiser_really_writes_half_a_file_with_kedros_own_dataset(tmp_path):
    """Shows the serialiser test above can fail: the plain dataset keeps a truncated latest version."""
    path = str(tmp_path / "data.json")
    JSONDataset(filepath=path, version=Version(None, FIRST)).save(["ok"])

    with pytest.raises(DatasetError):
        JSONDataset(filepath=path, version=Version(None, SECOND)).save(BROKEN_JSON)

    assert (Path(path) / SECOND / "data.json").stat().st_size > 0
    with pytest.raises(DatasetError, match="Expecting"):
        JSONDataset(filepath=path, version=Version(None, None)).load()


def test_saves_to_a_remote_filesystem_are_atomic_too():
    """fsspec's in-memory filesystem stands for an object store: no ``os.replace``, a move on the store instead."""
    root = f"/atomic-{uuid.uuid4().hex}"
    path = f"memory://{root}/class_names.json"
    memory = fsspec.filesystem("memory")
    try:
        AtomicJSONDataset(filepath=path, version=Version(None, FIRST)).save(["cat", "dog"])
        with pytest.raises(DatasetError):
            AtomicJSONDataset(filepath=path, version=Version(None, SECOND)).save(BROKEN_JSON)

        assert memory.find(root) == [f"{root}/class_names.json/{FIRST}/class_names.json"]
        assert AtomicJSONDataset(filepath=path, version=Version(None, None)).load() == ["cat", "dog"]
    finally:
        memory.rm(root, recursive=True)
