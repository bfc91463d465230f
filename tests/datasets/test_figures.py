"""The figure dataset loads what it saved, as PNG bytes: the HTML report embeds the saved figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend
import pytest  # noqa: E402
from kedro.io import DatasetError, Version  # noqa: E402

from image_classification.datasets import AtomicMatplotlibDataset  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_a_saved_figure_loads_as_the_png_bytes_of_the_latest_version(tmp_path) -> None:
    def dataset() -> AtomicMatplotlibDataset:  # one per run, as each kedro run makes its own catalog
        return AtomicMatplotlibDataset(filepath=str(tmp_path / "curves.png"), version=Version(None, None))  # versioned: true

    with pytest.raises(DatasetError):
        dataset().load()  # nothing saved yet
    for width in (2, 3):
        figure = plt.figure(figsize=(width, 2))
        figure.gca().plot([0, 1], [1, 0])
        dataset().save(figure)
        plt.close(figure)
    loaded = dataset().load()
    versions = sorted((tmp_path / "curves.png").iterdir())
    assert loaded.startswith(PNG_SIGNATURE)
    assert loaded == (versions[-1] / "curves.png").read_bytes() != (versions[0] / "curves.png").read_bytes()
