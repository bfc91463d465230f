"""Where the scoring looks for Inception-v3's weights: Keras's cache folders only, never a download."""

from __future__ import annotations

from pathlib import Path

import pytest

from image_classification.pipelines.gan.scoring import inception_weights

FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


def test_inception_v3_is_skipped_without_cached_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert inception_weights() is None


@pytest.mark.parametrize("folder", ["keras/models", "home/.keras/models"])
def test_inception_v3_weights_are_found_in_either_cache(
    folder: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    (tmp_path / folder).mkdir(parents=True)
    (tmp_path / folder / FILE).write_bytes(b"")
    assert inception_weights() == tmp_path / folder / FILE
