"""Tiny real data for the embeddings and similar tests: 3 bundled painters, 4 train, 2 val and 2 test paintings
each, decoded and resized to 32 px as preprocess does, with the ``splits`` rows they came from."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import DataCatalog, MemoryDataset

from image_classification.data.images import load_rgb
from image_classification.data.resize import resize_image
from image_classification.data.sources import BUNDLED_DIR
from tests.pipelines.paintings import KeptDataset

PAINTERS = ["Cezanne", "Monet", "VanGogh"]
SIZE = 32
PER_SPLIT = {"train": 4, "val": 2, "test": 2}
#: Small and quick: mobilenet_v2 with its bundled ImageNet weights at 32 px, few t-SNE neighbours.
EMBEDDINGS = {"backbone": "mobilenet_v2", "weights": "imagenet", "pooling": "avg", "batch_size": 32,
              "l2_normalize": True, "tsne_perplexity": 5, "tsne_max_points": 3000, "seed": 0}  # fmt: skip
SIMILAR = {"query": None, "top_k": 3, "precision_k": 2, "examples": 2, "seed": 0}
PREPROCESS = {"image_size": SIZE, "resize_method": "stretch"}


@functools.cache
def _paintings() -> tuple[pd.DataFrame, dict[str, dict[str, np.ndarray]]]:
    rows = []
    for label, painter in enumerate(PAINTERS):
        paths = sorted((BUNDLED_DIR / "impressionists" / painter).glob("*.jpg"))[: sum(PER_SPLIT.values())]
        splits = [split for split, count in PER_SPLIT.items() for _ in range(count)]
        rows += [{"path": str(path), "label": painter, "split": split, "index": label} for path, split in zip(paths, splits)]
    table = pd.DataFrame(rows).sort_values(["split", "label"], kind="stable")
    bundles = {}
    for split in PER_SPLIT:
        mine = table[table["split"] == split]
        images = np.stack([resize_image(load_rgb(path), SIZE, "stretch") for path in mine["path"]])
        bundles[split] = {"images": images, "labels": mine["index"].to_numpy(np.int64)}
    return table.drop(columns="index").reset_index(drop=True), bundles


def painting_splits() -> tuple[pd.DataFrame, dict[str, dict[str, np.ndarray]]]:
    """Fresh copies of the ``splits`` rows (path, label, split) and the ``images_<split>`` bundles."""
    table, bundles = _paintings()
    return table.copy(), {split: {key: value.copy() for key, value in bundle.items()} for split, bundle in bundles.items()}


def catalog(parameters: dict[str, Any], kept: tuple[str, ...] = (), **datasets: Any) -> DataCatalog:
    """The paintings, ``class_names`` and ``params:<name>`` entries in memory; ``kept`` outputs stay readable."""
    table, bundles = painting_splits()
    entries = {
        "splits": MemoryDataset(table),
        "class_names": MemoryDataset(list(PAINTERS)),
        **{f"images_{split}": MemoryDataset(bundle) for split, bundle in bundles.items()},
        **{f"params:{name}": MemoryDataset(value) for name, value in parameters.items()},
        **{name: MemoryDataset(value) for name, value in datasets.items()},
        **{name: KeptDataset() for name in kept},
    }
    return DataCatalog(datasets=entries)


@functools.cache
def _embeddings() -> dict[str, np.ndarray]:
    from image_classification.pipelines.embeddings.nodes import embed_images  # noqa: PLC0415 - loads Keras

    _, bundles = _paintings()
    return embed_images(bundles["train"], bundles["val"], bundles["test"], EMBEDDINGS)


def painting_embeddings() -> dict[str, np.ndarray]:
    """A copy of the ``image_embeddings`` bundle of the paintings with ``EMBEDDINGS``, computed once per process."""
    return {key: value.copy() for key, value in _embeddings().items()}
