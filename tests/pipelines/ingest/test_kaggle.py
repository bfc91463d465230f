"""Tests for Kaggle sources: a stand-in for the network client, and the real client without credentials."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from image_classification.data.kaggle import KaggleCredentialsError, KaggleDownloadError
from image_classification.data.sources import fetch_source

from .conftest import class_zip, relative_files


class FakeKaggleApi:
    """Stands in for the network client: 'downloads' a real local zip of tiny PNGs, like the real one does."""

    def __init__(self, archive: Path, error: Exception | None = None) -> None:
        self.archive, self.error, self.calls = archive, error, []

    def _deliver(self, name: str, path: str) -> None:
        if self.error is not None:
            raise self.error
        Path(path, name + ".zip").write_bytes(self.archive.read_bytes())

    def dataset_download_files(  # noqa: PLR0917 - same signature as the real client
        self, dataset, path=None, force=False, quiet=True, unzip=False, licenses=()
    ):
        self.calls.append(("dataset", dataset))
        self._deliver(dataset.split("/")[1], path)

    def competition_download_files(self, competition, path=None, force=False, quiet=True):
        self.calls.append(("competition", competition))
        self._deliver(competition, path)


@pytest.mark.parametrize(
    ("kind", "slug"),
    [
        ("kaggle_dataset", "ikarus777/best-artworks-of-all-time"),
        ("kaggle_competition", "dog-breed-identification"),
    ],
)
def test_kaggle_download_with_stand_in_client_is_extracted_and_reused(tmp_path, kind, slug):
    api = FakeKaggleApi(class_zip(tmp_path / "k.zip"))
    source = {"type": kind, "name": "k", "raw_dir": str(tmp_path / "raw"), "kaggle_slug": slug}
    root = fetch_source(source, kaggle_api_factory=lambda: api)
    assert "pets/dog/c.png" in relative_files(root) and len(api.calls) == 1
    assert (
        fetch_source(source, kaggle_api_factory=lambda: api) == root and len(api.calls) == 1
    )  # offline rerun


def test_kaggle_unknown_slug_is_a_clear_error(tmp_path):
    response = requests.Response()
    response.status_code = 404
    api = FakeKaggleApi(
        tmp_path / "unused.zip", error=requests.HTTPError("404 Client Error", response=response)
    )
    source = {
        "type": "kaggle_dataset",
        "name": "k",
        "raw_dir": str(tmp_path),
        "kaggle_slug": "someone/no-such-set",
    }
    with pytest.raises(
        KaggleDownloadError, match=r"'someone/no-such-set'.*\b404\b.*ingest\.source\.kaggle_slug"
    ):
        fetch_source(source, kaggle_api_factory=lambda: api)
    with pytest.raises(ValueError, match="ingest.source.kaggle_slug"):
        fetch_source({**source, "kaggle_slug": "no-owner"}, kaggle_api_factory=lambda: api)


def test_kaggle_without_credentials_raises_clear_error_not_system_exit(tmp_path, monkeypatch):
    for key in [k for k in os.environ if k.startswith("KAGGLE_")]:
        monkeypatch.delenv(key)
    (tmp_path / "kaggle_config").mkdir()
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle_config"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kaggle/access_token or OAuth file either
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    source = {
        "type": "kaggle_competition",
        "name": "dogs",
        "raw_dir": str(tmp_path / "raw"),
        "kaggle_slug": "dog-breed-identification",
    }
    with pytest.raises(KaggleCredentialsError) as caught:
        fetch_source(source)  # the real, lazily imported client
    message = str(caught.value)
    assert (
        "conf/local/credentials.yml" in message
        and "KAGGLE_USERNAME" in message
        and "KAGGLE_KEY" in message
    )
