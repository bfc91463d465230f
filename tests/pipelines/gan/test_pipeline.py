"""The gan pipeline end to end on an in-memory catalog: real bundled paintings, a tiny DCGAN, real scores."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure
from PIL import Image

from image_classification.models.dcgan import build_generator
from image_classification.pipelines.gan import create_pipeline
from image_classification.pipelines.gan.images import tile, to_uint8
from image_classification.pipelines.gan.nodes import resize_images, untrained_generator
from tests.pipelines.paintings import KeptDataset, painting_splits

TINY = {
    "image_size": 16, "latent_size": 8, "base_filters": 4, "epochs": 2, "batch_size": 4, "sample_grid_size": 2,
    "eval_samples": 8, "kid_subsets": 10, "kid_subset_size": 6, "kid_bootstraps": 20, "copy_check_samples": 4,
    "feature_image_size": 32, "seed": 0, "score_seed": 0, "verbose": 0,
}  # fmt: skip
OUTPUTS = (
    "gan.generator", "gan.history", "gan.epoch_metrics", "gan.sample_grids", "gan.samples_gif",
    "gan.sample_evolution_figure", "gan.scores", "gan.score_metrics", "gan.copy_check", "gan.copy_check_figure",
    "gan.copy_check_metrics",
)  # fmt: skip


@pytest.fixture(scope="module")
def outputs() -> dict:
    train, val, _ = painting_splits()  # 12 + 6 paintings at 32 px; the 6 validation ones double as the test split
    catalog = DataCatalog(
        datasets={
            "images_train": MemoryDataset(train),
            "images_val": MemoryDataset(val),
            "images_test": MemoryDataset({key: value.copy() for key, value in val.items()}),
            "params:gan": MemoryDataset(TINY),
            "gan.untrained_generator": MemoryDataset(copy_mode="assign"),
            **{name: KeptDataset() for name in OUTPUTS},
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return {name: catalog.load(name) for name in OUTPUTS}


def test_the_generator_and_its_losses_per_epoch(outputs: dict) -> None:
    generator = outputs["gan.generator"]
    assert isinstance(generator, keras.Model) and generator.output_shape == (None, 16, 16, 3)
    assert set(outputs["gan.history"]) == {"generator_loss", "discriminator_loss"}
    assert all(len(values) == 2 for values in outputs["gan.history"].values())
    assert [entry["step"] for entry in outputs["gan.epoch_metrics"]["generator_loss"]] == [0, 1]


def test_samples_of_the_fixed_noise_before_training_and_after_each_epoch(outputs: dict) -> None:
    grids = outputs["gan.sample_grids"]
    assert grids["grids"].shape == (3, 32, 32, 3) and grids["grids"].dtype == np.uint8  # 2x2 images of 16 px
    assert list(grids["epochs"]) == [0, 1, 2]
    gif = outputs["gan.samples_gif"]
    assert isinstance(gif, Image.Image) and gif.n_frames == 3 and gif.size == (32, 32)
    assert isinstance(outputs["gan.sample_evolution_figure"], Figure)


def test_the_untrained_reference_is_the_fixed_paper_dcgan_whatever_is_trained() -> None:
    reference = untrained_generator(TINY)
    assert reference.input_shape == (None, 100) and reference.output_shape == (None, 16, 16, 3)
    assert "Conv2DTranspose" in {type(layer).__name__ for layer in reference.layers}
    other = untrained_generator({**TINY, "seed": 7, "base_filters": 8, "latent_size": 4, "upsampling": "transposed"})
    for a, b in zip(reference.weights, other.weights, strict=True):  # the trained model's settings do not move it
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(untrained_generator({**TINY, "score_seed": 1}).weights[0]),
                              np.asarray(reference.weights[0]))  # fmt: skip


def test_the_first_sample_grid_is_the_trained_generators_starting_point(outputs: dict) -> None:
    grids = outputs["gan.sample_grids"]["grids"]
    keras.utils.set_random_seed(TINY["seed"])  # what train_gan does before building its networks
    generator = build_generator(TINY["image_size"], TINY["latent_size"], TINY["base_filters"])
    noise = np.random.default_rng(TINY["seed"]).normal(size=(4, TINY["latent_size"])).astype("float32")  # train_gan's
    np.testing.assert_array_equal(tile(to_uint8(generator(noise, training=False)), 2), grids[0])
    assert not np.array_equal(grids[0], grids[-1])


def test_scores_against_the_held_out_images_with_both_references(outputs: dict) -> None:
    scores = outputs["gan.scores"].set_index("comparison")
    assert isinstance(outputs["gan.scores"], pd.DataFrame)
    assert list(scores.index) == ["real_train", "untrained_generator", "generator"]
    assert (scores["features"] == "mobilenet_v2").all()  # no Inception-v3 weights cached: skipped
    assert scores.loc["real_train", "gap_closed"] == 1.0 and scores.loc["untrained_generator", "gap_closed"] == 0.0
    kids = scores["kid"]
    assert scores.loc["generator", "gap_closed"] == pytest.approx(
        (kids["untrained_generator"] - kids["generator"]) / (kids["untrained_generator"] - kids["real_train"])
    )
    assert (scores["kid_std"] > 0).all() and np.isfinite(scores["kid_subset_std"]).all()
    assert scores.loc["real_train", "images"] == 8 and scores.loc["generator", "images"] == 8
    assert (scores["test_images"] == 6).all() and (scores["kid_subset_size"] == 6).all()
    assert np.isfinite(scores[["kid", "kid_std", "fid"]].to_numpy()).all()
    # Real paintings are closer to other real paintings than the untrained generator's flat grey noise is.
    assert scores.loc["real_train", "kid"] < scores.loc["untrained_generator", "kid"]
    assert scores.loc["real_train", "fid"] < scores.loc["untrained_generator", "fid"]
    assert set(outputs["gan.score_metrics"]) == {
        f"{metric}.{name}" for metric in ("kid", "fid") for name in ("real_train", "untrained_generator", "generator")
    } | {"gap_closed.generator"}


def test_the_copying_check_compares_generated_and_test_images_with_the_training_images(outputs: dict) -> None:
    table = outputs["gan.copy_check"]
    assert table["set"].value_counts().to_dict() == {"generated": 8, "untrained_generator": 8, "test": 6}
    assert table["nearest_training"].between(0, 17).all() and (table["distance"] >= 0).all()  # 12 + 6 training
    medians = table.groupby("set")["distance"].median()
    metrics = {name: values[0]["value"] for name, values in outputs["gan.copy_check_metrics"].items()}
    assert metrics["copy_check.generated_median"] == pytest.approx(medians["generated"])
    assert metrics["copy_check.test_median"] == pytest.approx(medians["test"])
    assert metrics["copy_check.untrained_median"] == pytest.approx(medians["untrained_generator"])
    assert metrics["copy_check.passed"] == float(medians["generated"] >= medians["test"])
    # The test images are the validation images, which are also training images here: each is its own neighbour.
    assert medians["test"] == pytest.approx(0.0, abs=1e-2)
    assert isinstance(outputs["gan.copy_check_figure"], Figure)


def test_sample_grids_are_capped_and_keep_the_last_epoch() -> None:
    from image_classification.pipelines.gan.images import MAX_SAMPLE_GRIDS
    from image_classification.pipelines.gan.sample_grids import SampleGrids

    class Model:  # SampleGrids needs only the generator it samples
        ema_generator = staticmethod(lambda noise, training: np.zeros((len(noise), 2, 2, 3), "float32"))

    samples = SampleGrids(np.zeros((4, 8), "float32"), columns=2, epochs=2 * MAX_SAMPLE_GRIDS + 1)
    samples.set_model(Model())
    samples.on_train_begin()
    for epoch in range(2 * MAX_SAMPLE_GRIDS + 1):
        samples.on_epoch_end(epoch)
    assert samples.epochs[:3] == [0, 3, 6] and samples.epochs[-1] == 2 * MAX_SAMPLE_GRIDS + 1
    assert len(samples.grids) == len(samples.epochs) <= MAX_SAMPLE_GRIDS + 2


def test_resize_takes_train_and_val_and_caps_them() -> None:
    train, val, _ = painting_splits()
    training, test = resize_images(train, val, val, {"image_size": 16, "max_images": 10})
    assert training.shape == (10, 16, 16, 3) and test.shape == (6, 16, 16, 3) and training.dtype == np.uint8


def test_a_misspelt_setting_fails_before_anything_is_trained() -> None:
    train, val, _ = painting_splits()
    with pytest.raises(ValueError, match=r"gan\.epoch = 2\b.*'epochs'"):
        resize_images(train, val, val, {"epoch": 2})
