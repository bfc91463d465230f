"""The predict nodes and pipelines on tiny real images and a tiny model really trained for one epoch."""

from __future__ import annotations

import base64
import copy
import io
import re
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from kedro.pipeline import Pipeline
from kedro_mlflow.pipeline.pipeline_ml import PipelineML
from PIL import Image

from image_classification.data.images import load_rgb
from image_classification.data.resize import resize_image
from image_classification.datasets import SharedKerasModelDataset
from image_classification.models.scratch import create_scratch_model
from image_classification.pipelines.predict.nodes import (
    classify_images,
    decode_images,
    image_table_from_folder,
    stage_for_serving,
)
from image_classification.pipelines.predict.pipeline import (
    IMAGE_TABLE,
    chosen_model,
    create_pipeline,
    create_serving_pipeline,
)
from image_classification.project import model_plan

SIZE = 16
CLASSES = ["blue", "green", "red"]
COLOURS = {"blue": (20, 30, 220), "green": (30, 200, 40), "red": (220, 20, 30)}
PREPROCESS = {"image_size": SIZE, "resize_method": "stretch", "workers": 2}


def _png(colour, size=(20, 12), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture(scope="module")
def trained_model() -> keras.Model:
    """A real classifier of red, green and blue squares, trained for one epoch."""
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    base = np.array([COLOURS[name] for name in CLASSES], dtype=np.int16)[labels]
    noise = rng.integers(-20, 21, size=(60, SIZE, SIZE, 3))
    images = np.clip(base[:, None, None, :] + noise, 0, 255).astype("float32")
    model = create_scratch_model("dense_baseline", input_shape=(SIZE, SIZE, 3), num_classes=3, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(images, labels, epochs=1, batch_size=16, verbose=0)
    return model


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Good images in several modes and formats, two broken ones, and files that are no images at all."""
    folder = tmp_path / "new_images"
    (folder / "more").mkdir(parents=True)
    (folder / "a_red.png").write_bytes(_png(COLOURS["red"]))
    (folder / "b_green_grey.png").write_bytes(_png(COLOURS["green"], mode="L"))
    Image.new("RGB", (30, 30), COLOURS["blue"]).save(folder / "more" / "c_blue.jpg", quality=95)
    (folder / "d_empty.png").write_bytes(b"")
    (folder / "e_broken.jpg").write_bytes(b"this is not a jpeg")
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(_png(COLOURS["red"]))
    return folder


def test_a_folder_becomes_a_table_of_base64_image_files(image_folder):
    table = image_table_from_folder(str(image_folder))

    names = [Path(file).relative_to(image_folder).as_posix() for file in table["file"]]
    assert names == ["a_red.png", "b_green_grey.png", "d_empty.png", "e_broken.jpg", "more/c_blue.jpg"]
    assert list(table.columns) == ["file", "image"]
    assert base64.b64decode(table["image"][0]) == (image_folder / "a_red.png").read_bytes()


def test_a_missing_or_empty_folder_names_the_setting(tmp_path):
    with pytest.raises(FileNotFoundError, match="predict.images_dir"):
        image_table_from_folder(str(tmp_path / "nowhere"))
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match=rf"predict\.images_dir '{re.escape(str(tmp_path))}'"):
        image_table_from_folder(str(tmp_path))


def test_images_are_decoded_like_the_training_images_and_bad_ones_reported(image_folder):
    table = image_table_from_folder(str(image_folder))

    pixels, rows = decode_images(table, PREPROCESS)

    assert pixels.shape == (3, SIZE, SIZE, 3) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels[0], resize_image(load_rgb(image_folder / "a_red.png"), SIZE, "stretch"))
    assert list(rows.columns) == ["file", "problem"]
    problems = dict(zip((Path(file).name for file in rows["file"]), rows["problem"]))
    assert problems["a_red.png"] == problems["b_green_grey.png"] == problems["c_blue.jpg"] == ""
    assert problems["d_empty.png"] == "zero-byte file"
    assert problems["e_broken.jpg"].startswith("not an image")


def test_request_rows_may_be_data_uris_wrapped_or_invalid():
    encoded = _b64(_png(COLOURS["red"]))
    table = pd.DataFrame(
        {
            "image": [
                "data:image/png;base64," + encoded,
                "\n".join(encoded[i : i + 20] for i in range(0, len(encoded), 20)),  # like `base64` without -w0
                "not base64 at all!",
                None,
            ]
        }
    )

    pixels, rows = decode_images(table, {**PREPROCESS, "resize_method": "pad"})

    assert len(pixels) == 2
    np.testing.assert_array_equal(pixels[0], pixels[1])
    assert rows["problem"][0] == rows["problem"][1] == ""
    assert rows["problem"][2].startswith("image is not valid base64")
    assert rows["problem"][3] == "no image data"


def test_decoding_needs_an_image_column_and_a_known_resize_method():
    with pytest.raises(ValueError, match="'image'"):
        decode_images(pd.DataFrame({"path": ["x.png"]}), PREPROCESS)
    with pytest.raises(ValueError, match="preprocess.resize_method = 'squash'"):
        decode_images(pd.DataFrame({"image": []}), {**PREPROCESS, "resize_method": "squash"})


def test_top_k_labels_follow_the_model_and_skipped_rows_stay_empty(image_folder, trained_model):
    pixels, rows = decode_images(image_table_from_folder(str(image_folder)), PREPROCESS)

    predictions = classify_images(trained_model, CLASSES, pixels, rows, top_k=3, batch_size=2)

    assert list(predictions.columns) == [
        "file", "label_1", "probability_1", "label_2", "probability_2", "label_3", "probability_3", "problem",
    ]
    usable = predictions[predictions["problem"] == ""]
    expected = trained_model.predict(pixels.astype("float32"), verbose=0)
    assert usable["label_1"].tolist() == [CLASSES[i] for i in expected.argmax(axis=1)]
    scores = usable[["probability_1", "probability_2", "probability_3"]].to_numpy(dtype=float)
    assert (np.diff(scores, axis=1) <= 0).all()
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-4)  # all three classes: the whole distribution
    for _, row in usable.iterrows():
        assert sorted(row[["label_1", "label_2", "label_3"]]) == CLASSES
    skipped = predictions[predictions["problem"] != ""]
    assert len(skipped) == 2
    assert skipped[["label_1", "probability_1"]].isna().all().all()
    assert skipped["label_1"].tolist() == [None, None]  # None, not NaN: null in the served JSON


def test_top_k_is_capped_at_the_number_of_classes_and_must_be_positive(trained_model):
    pixels, rows = decode_images(pd.DataFrame({"image": [_b64(_png(COLOURS["green"]))]}), PREPROCESS)

    predictions = classify_images(trained_model, CLASSES, pixels, rows, top_k=10, batch_size=8)

    labels = [column for column in predictions.columns if column.startswith("label_")]
    assert labels == ["label_1", "label_2", "label_3"]
    assert predictions["label_1"][0] in CLASSES
    with pytest.raises(ValueError, match="predict.top_k"):
        classify_images(trained_model, CLASSES, pixels, rows, top_k=0, batch_size=8)


def test_no_usable_image_gives_only_problems(trained_model):
    table = pd.DataFrame({"file": ["x.png"], "image": [_b64(b"\x89PNG broken")]})
    pixels, rows = decode_images(table, PREPROCESS)

    predictions = classify_images(trained_model, CLASSES, pixels, rows, top_k=3, batch_size=8)

    assert predictions["file"].tolist() == ["x.png"]
    assert predictions["label_1"].tolist() == [None]
    assert predictions["problem"][0] != ""


def test_a_model_that_does_not_fit_the_images_or_the_classes_is_refused(trained_model):
    table = pd.DataFrame({"image": [_b64(_png(COLOURS["red"]))]})
    pixels, rows = decode_images(table, {**PREPROCESS, "image_size": 24})
    with pytest.raises(ValueError, match="preprocess.image_size=16"):
        classify_images(trained_model, CLASSES, pixels, rows, top_k=3, batch_size=8)
    with pytest.raises(ValueError, match=r"class_names\D*\b2\b"):
        classify_images(trained_model, CLASSES[:2], pixels[:0], rows[:0], top_k=3, batch_size=8)
    with pytest.raises(ValueError, match=r"class_names\D*\b4\b"):
        stage_for_serving(trained_model, [*CLASSES, "yellow"])
    assert stage_for_serving(trained_model, CLASSES) == (trained_model, CLASSES)


def test_the_served_model_is_shared_not_copied_by_deepcopy(tmp_path, trained_model):
    dataset = SharedKerasModelDataset(filepath=str(tmp_path / "model.keras"))
    dataset.save(trained_model)

    loaded = dataset.load()

    assert copy.deepcopy({"model": loaded})["model"] is loaded
    images = np.full((2, SIZE, SIZE, 3), 128, dtype="float32")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), trained_model.predict(images, verbose=0), rtol=1e-5)


@pytest.fixture
def plan():
    """Pipelines built from these parameters instead of conf/, as the session hook does in a run."""

    def use(predict_model: str) -> None:
        parameters = {
            "predict": {"model": predict_model, "top_k": 4},
            "scratch": {"models": {"basenet": {"architecture": "basenet"}}},
            "transfer": {"models": {}},
            "finetune": {"models": {}},
        }
        model_plan.use_model_plan(model_plan.ModelPlan.from_parameters(parameters))

    yield use
    model_plan.use_model_plan(None)


def test_the_predict_pipeline_reads_the_chosen_model_and_writes_predictions(plan):
    plan("scratch.basenet")

    pipeline = create_pipeline()

    assert pipeline.inputs() == {
        "params:predict.images_dir",
        "params:preprocess",
        "params:predict.top_k",
        "params:predict.batch_size",
        "scratch.basenet.model",
        "class_names",
    }
    assert pipeline.outputs() == {"predictions"}


@pytest.mark.parametrize("namespace", ["", "mobilenet_v2", "serving.mobilenet_v2", "transfer."])
def test_a_bad_predict_model_names_the_setting(namespace):
    with pytest.raises(ValueError, match="predict.model"):
        chosen_model({"predict": {"model": namespace}})


def test_the_serving_pipeline_trains_only_the_chosen_model_then_packs_the_inference(plan):
    from image_classification.pipelines import ingest, preprocess, scratch, split

    plan("scratch.basenet")
    training = sum((module.create_pipeline() for module in (ingest, split, preprocess, scratch)), Pipeline([]))

    serving = create_serving_pipeline(training)

    assert isinstance(serving, PipelineML)
    names = {node.name for node in serving.nodes}
    assert {"scratch.basenet.train_scratch_model", "stage_for_serving"} <= names
    assert "preview_augmentation" not in names
    assert serving.input_name == IMAGE_TABLE
    assert serving.inference.inputs() == {
        IMAGE_TABLE,
        "serving_model",
        "serving_class_names",
        "params:preprocess",
        "params:predict.top_k",
        "params:predict.batch_size",
    }
    signature = serving.log_model_kwargs["signature"]
    assert signature.inputs.input_names() == ["image", "file"]
    assert signature.params.params[0].name == "predict.top_k" and signature.params.params[0].default == 4


def test_a_model_no_longer_trained_is_packed_from_its_latest_saved_version(plan):
    from image_classification.pipelines import scratch

    plan("transfer.mobilenet_v2")

    serving = create_serving_pipeline(scratch.create_pipeline())

    assert [node.name for node in serving.nodes] == ["stage_for_serving"]
    assert serving.inputs() == {"transfer.mobilenet_v2.model", "class_names"}
