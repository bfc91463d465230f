"""Issue 14, case 1: a model paired with another data set's class names. A model trained on bird/cat/dog, then a
new split of alpha/beta/gamma: predicting must label with the model's own classes, the report must refuse to score
it against the new test arrays, naming both, and fine-tuning must refuse to start from it. Real training
(``train_scratch_model``, two epochs on tiny squares) and the real ``.keras`` dataset, versioned in a temporary
folder."""

from __future__ import annotations

import base64
import io
import logging
import zipfile

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import Version
from PIL import Image

from image_classification.datasets import KerasModelDataset, SharedKerasModelDataset
from image_classification.models.inference import predict_proba
from image_classification.models.metadata import METADATA_ENTRY, describe_model, model_metadata
from image_classification.models.scratch import create_scratch_model
from image_classification.pipelines.finetune.nodes import fine_tune_model
from image_classification.pipelines.predict.nodes import (
    classify_images,
    decode_images,
    stage_for_serving,
)
from image_classification.pipelines.report.nodes import evaluate_model
from image_classification.pipelines.scratch.nodes import train_scratch_model
from image_classification.pipelines.transfer.nodes import build_transfer_classifier

SIZE = 16
BIRDS = ["bird", "cat", "dog"]
LETTERS = ["alpha", "beta", "gamma"]
COLOURS = ((220, 20, 30), (30, 200, 40), (20, 30, 220))
PREPROCESS = {"image_size": SIZE, "resize_method": "stretch", "workers": 1}
TRAINING = {"epochs": 2, "batch_size": 8, "verbose": 0, "seed": 0, "checkpoint_root": None}
REPORT = {"bootstrap_samples": 10}
VERSION = "2026-01-02T03.04.05.678Z"


def _squares(n: int, size: int = SIZE, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    base = np.array(COLOURS, dtype=np.int16)[labels][:, None, None, :]
    images = np.clip(base + rng.integers(-20, 21, (n, size, size, 3)), 0, 255).astype(np.uint8)
    return {"images": images, "labels": labels.astype(np.int64)}


def _table(colours) -> pd.DataFrame:
    rows = []
    for index, colour in enumerate(colours):
        buffer = io.BytesIO()
        Image.new("RGB", (20, 20), colour).save(buffer, format="PNG")
        rows.append({"file": f"{index}.png", "image": base64.b64encode(buffer.getvalue()).decode("ascii")})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The bird/cat/dog model as ``scratch.tiny.model`` saves it, loaded back as the next run would."""
    model, _, summary = train_scratch_model(
        _squares(30), _squares(12, seed=1), BIRDS, {"architecture": "dense_baseline"}, [TRAINING, None, None], {},
        model_name="tiny",
    )
    folder = tmp_path_factory.mktemp("models")
    path = str(folder / "scratch" / "tiny.keras")
    KerasModelDataset(filepath=path, version=Version(None, VERSION)).save(model)  # versioned, as in the catalog
    return KerasModelDataset(filepath=path, version=Version(None, None)).load(), summary, folder


def test_a_saved_model_carries_its_class_names_input_size_and_data_fingerprint(saved, tmp_path):
    model, summary, folder = saved

    metadata = model_metadata(model)

    assert metadata.class_names == tuple(BIRDS) and metadata.image_size == SIZE
    assert metadata.namespace == "scratch.tiny" and metadata.data_fingerprint == summary["data_fingerprint"]
    assert f"{folder}/scratch/tiny.keras/{VERSION}/tiny.keras" in describe_model(model)  # the file and version
    serving = SharedKerasModelDataset(filepath=str(tmp_path / "serving" / "model.keras"))  # what MLflow packs
    serving.save(model)
    assert model_metadata(serving.load()) == metadata


def test_predict_labels_with_the_models_classes_not_a_later_splits(saved, caplog):
    model, _, _ = saved
    pixels, rows = decode_images(_table(COLOURS), PREPROCESS, model)

    with caplog.at_level(logging.WARNING):
        predictions = classify_images(model, LETTERS, pixels, rows, top_k=3, batch_size=8)

    # Before: the cat images came out labelled alpha/gamma, with exit code 0.
    expected = [BIRDS[i] for i in predict_proba(model, pixels).argmax(axis=1)]
    assert predictions["label_1"].tolist() == expected
    assert set(predictions[["label_1", "label_2", "label_3"]].to_numpy().ravel()) == set(BIRDS)
    assert "trained on classes [bird, cat, dog]" in caplog.text and "[alpha, beta, gamma]" in caplog.text
    assert stage_for_serving(model, LETTERS) == (model, BIRDS)  # the served model packs the model's classes


def test_predict_resizes_to_the_size_the_model_was_trained_at(saved, caplog):
    model, _, _ = saved

    with caplog.at_level(logging.WARNING):
        pixels, _ = decode_images(_table(COLOURS[:1]), {**PREPROCESS, "image_size": 24}, model)

    assert pixels.shape == (1, SIZE, SIZE, 3) and "not preprocess.image_size 24" in caplog.text


def test_the_report_refuses_a_model_of_other_classes_or_another_size_naming_both(saved):
    model, _, folder = saved

    with pytest.raises(ValueError, match=r"\[bird, cat, dog\].*\[alpha, beta, gamma\]") as error:
        evaluate_model(model, _squares(9, seed=2), LETTERS, REPORT)
    assert f"tiny.keras/{VERSION}/tiny.keras" in str(error.value) and "--load-versions" in str(error.value)
    with pytest.raises(ValueError, match=r"\b16x16\b.*\bimages_test\b.*\b24x24\b"):
        evaluate_model(model, _squares(9, size=24, seed=2), BIRDS, REPORT)
    assert evaluate_model(model, _squares(9, seed=2), BIRDS, REPORT)["metrics"]["test_images"] == 9


def test_fine_tuning_refuses_a_transfer_model_of_other_classes():
    transfer = {"backbone": "mobilenet_v1_075", "weights": None}
    train = _squares(6, size=32)
    classifier = build_transfer_classifier(train, BIRDS, transfer, {}, [TRAINING, None, None], model_name="m")
    assert model_metadata(classifier).class_names == tuple(BIRDS)

    with pytest.raises(ValueError, match=r"\[bird, cat, dog\].*\[alpha, beta, gamma\]"):
        fine_tune_model(classifier, train, train, LETTERS, {}, transfer, [TRAINING, None, None], model_name="m")


def test_a_model_saved_without_class_names_still_works_with_a_warning(tmp_path, caplog):
    old = create_scratch_model("dense_baseline", (SIZE, SIZE, 3), 3, seed=0)  # as saved before metadata existed
    dataset = KerasModelDataset(filepath=str(tmp_path / "old.keras"))
    dataset.save(old)
    model = dataset.load()
    pixels, rows = decode_images(_table(COLOURS), PREPROCESS, model)

    with caplog.at_level(logging.WARNING):
        predictions = classify_images(model, LETTERS, pixels, rows, top_k=1, batch_size=8)

    assert model_metadata(model) is None and set(predictions["label_1"]) <= set(LETTERS)
    assert "carries no class names" in caplog.text
    with pytest.raises(ValueError, match=r"\b3\b.*class_names\D*\b2\b"):
        classify_images(model, LETTERS[:2], pixels, rows, top_k=1, batch_size=8)


def test_unreadable_metadata_is_ignored_with_a_warning(saved, tmp_path, caplog):
    model, _, _ = saved
    dataset = KerasModelDataset(filepath=str(tmp_path / "model.keras"))
    dataset.save(model)
    damaged = tmp_path / "damaged.keras"
    with zipfile.ZipFile(tmp_path / "model.keras") as source, zipfile.ZipFile(damaged, "w") as target:
        for entry in source.namelist():
            target.writestr(entry, b"{not json" if entry == METADATA_ENTRY else source.read(entry))

    with caplog.at_level(logging.WARNING):
        loaded = KerasModelDataset(filepath=str(damaged)).load()

    assert model_metadata(loaded) is None and "Ignoring the model's metadata" in caplog.text
