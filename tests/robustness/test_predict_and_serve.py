"""Issue 23 items 9 and 10: predict treats a folder of unusable files like an empty one, names the version of a damaged
model file with ``--load-versions``, and checks ``predict.model`` up front with a "did you mean"; the registered MLflow
model answers a batch with one bad row with a ``problem`` for that row and labels for the others, echoing ``file``,
with no server path or traceback in the response."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io.core import Version

from image_classification.datasets import KerasModelDataset
from image_classification.datasets.keras_model import CorruptModelError
from image_classification.models import serving
from image_classification.models.prediction_table import serving_signature
from image_classification.models.serving import encode_png
from image_classification.pipelines.predict.nodes import (
    NoUsableImagesError,
    classify_images,
    decode_folder_images,
    decode_images,
    image_table_from_folder,
)
from image_classification.project.block_checks import check_predict

PREPROCESS = {"image_size": 8, "resize_method": "stretch"}


@pytest.fixture(scope="module")
def tiny_model() -> keras.Model:
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])


def test_a_folder_of_only_unusable_files_is_an_error_naming_each(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg")
    table = image_table_from_folder(str(tmp_path))
    with pytest.raises(NoUsableImagesError) as caught:
        decode_folder_images(table, PREPROCESS)
    assert [file for file, _ in caught.value.problems] == [str(tmp_path / "a.png"), str(tmp_path / "b.jpg")]
    pixels, rows = decode_images(table, PREPROCESS)  # what a served request gets instead: a problem per row
    assert len(pixels) == 0 and (rows["problem"] != "").all()


def test_a_truncated_model_file_names_its_version_and_the_earlier_one_to_load(tmp_path, tiny_model):
    root = tmp_path / "06_models" / "scratch" / "basenet.keras"
    for version in ("2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"):
        KerasModelDataset(filepath=str(root), version=Version(None, version)).save(tiny_model)
    latest = root / "2026-01-02T00.00.00.000Z" / "basenet.keras"
    latest.write_bytes(latest.read_bytes()[:500])
    with pytest.raises(CorruptModelError) as caught:
        KerasModelDataset(filepath=str(root), version=Version(None, None)).load()
    assert caught.value.version == "2026-01-02T00.00.00.000Z" and caught.value.others == ["2026-01-01T00.00.00.000Z"]
    assert "--load-versions scratch.basenet.model:2026-01-01T00.00.00.000Z" in str(caught.value)


def test_a_misspelt_predict_model_fails_up_front_with_did_you_mean(project_root):
    parameters = OmegaConfigLoader(
        str(project_root / "conf"), base_env="base", default_run_env="base", merge_strategy={"parameters": "soft"}
    )["parameters"]
    parameters = copy.deepcopy(parameters)
    parameters["predict"]["model"] = "scratch.basenett"
    (problem,) = check_predict(parameters)  # the run checks of every pipeline that reads predict
    assert problem.parameter == "predict.model" and "scratch.basenet" in str(problem)


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model):
    """The registered model's pyfunc, loaded from disk as ``mlflow models serve`` loads it, in a test client."""
    import mlflow
    from fastapi.testclient import TestClient
    from mlflow.pyfunc import scoring_server

    folder = tmp_path_factory.mktemp("served")
    tiny_model.save(folder / "model.keras")
    (folder / "class_names.json").write_text(json.dumps(["cat", "dog"]))
    mlflow.pyfunc.save_model(
        str(folder / "pyfunc"),
        python_model=str(Path(serving.__file__).with_name("serving_code.py")),  # as the runs log it
        artifacts={"model": str(folder / "model.keras"), "class_names": str(folder / "class_names.json")},
        model_config={"image_size": 8, "resize_method": "stretch", "top_k": 1},
        signature=serving_signature(1),
        pip_requirements=["mlflow"],  # not inferred: that starts a process and takes half a minute
    )
    return TestClient(scoring_server.init(mlflow.pyfunc.load_model(str(folder / "pyfunc"))))


def _request(client, rows: list[dict]) -> tuple[int, str]:
    frame = pd.DataFrame(rows)
    payload = {"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}}
    response = client.post("/invocations", json=payload)
    return response.status_code, response.text


def test_the_served_model_answers_a_batch_with_one_bad_row_row_by_row(served):
    good = encode_png(np.full((12, 10, 3), 200, np.uint8))
    status, text = _request(served, [{"file": "monet.png", "image": good}, {"file": "hello.txt", "image": "aGVsbG8="}])
    assert status == 200, text
    predictions = json.loads(text)["predictions"]
    assert [row["file"] for row in predictions] == ["monet.png", "hello.txt"]
    assert predictions[0]["label_1"] in ("cat", "dog") and predictions[0]["problem"] == ""
    assert predictions[1]["label_1"] is None and predictions[1]["problem"]
    assert "Traceback" not in text and str(Path.cwd()) not in text and "/tmp" not in text


def test_the_served_model_echoes_file_for_good_images_and_works_without_it(served):
    good = encode_png(np.zeros((8, 8, 3), np.uint8))
    status, text = _request(served, [{"file": "a.png", "image": good}])
    assert status == 200 and json.loads(text)["predictions"][0]["file"] == "a.png"
    status, text = _request(served, [{"image": good}, {"image": base64.b64encode(b"x").decode()}])
    assert status == 200 and [bool(row["problem"]) for row in json.loads(text)["predictions"]] == [False, True]


def test_a_request_and_the_predict_nodes_give_the_same_answer_and_a_request_may_ask_for_more_labels(
    served, tiny_model
):
    rows = [{"file": "a.png", "image": encode_png(np.full((12, 10, 3), 90, np.uint8))}, {"file": "b", "image": "x"}]
    frame = pd.DataFrame(rows)
    payload = {"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()},
               "params": {"predict.top_k": 2}}  # fmt: skip
    response = served.post("/invocations", json=payload)
    assert response.status_code == 200, response.text
    answered = json.loads(response.text)["predictions"]
    pixels, decoded_rows = decode_images(frame, PREPROCESS)
    expected = classify_images(tiny_model, ["cat", "dog"], pixels, decoded_rows, top_k=2, batch_size=4)
    assert list(expected.columns) == ["file", "label_1", "probability_1", "label_2", "probability_2", "problem"]
    assert answered == json.loads(expected.to_json(orient="records"))
