"""The shared fit loop: real (tiny) training runs on learnable images, resume after interruption, input checks."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from image_classification.models.augmentation import build_augmentation
from image_classification.models.inference import predict_proba
from image_classification.models.scratch import create_scratch_model
from image_classification.training import (
    TrainingSettings,
    balanced_class_weights,
    compile_model,
    fit_model,
)

FAST = {"epochs": 2, "batch_size": 16, "verbose": 0, "seed": 1}
HISTORY_KEYS = {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}


def stripes(
    n: int, size: int = 16, seed: int = 0, labels: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Noisy horizontal (label 1) or vertical (label 0) stripes: easy to learn, impossible to learn by colour."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n) if labels is None else np.asarray(labels)
    images = rng.integers(0, 60, (n, size, size, 3)).astype(np.uint8)
    for image, label in zip(images, labels, strict=True):
        offset = rng.integers(0, 4)
        if label:
            image[offset::4] += 180
        else:
            image[:, offset::4] += 180
    return {"images": images, "labels": labels.astype(np.int64)}


@pytest.fixture(autouse=True)
def _seeded() -> None:
    keras.utils.set_random_seed(
        0
    )  # models are built before fit_model seeds: same initial weights every run


@pytest.fixture(scope="module")
def data() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    return stripes(96, seed=0), stripes(48, seed=1)


def _cross_entropy(model: keras.Model, split: dict[str, np.ndarray]) -> float:
    probabilities = predict_proba(model, split["images"])
    return float(
        -np.mean(np.log(probabilities[np.arange(len(split["labels"])), split["labels"]] + 1e-12))
    )


def test_compile_model_metrics_and_loss() -> None:
    two = compile_model(
        create_scratch_model("dense_baseline", (8, 8, 3), 2),
        TrainingSettings(learning_rate=0.01, label_smoothing=0.1),
    )
    assert two.loss.label_smoothing == pytest.approx(0.1)
    assert isinstance(two.optimizer, keras.optimizers.Adam)  # the default optimizer
    assert float(keras.ops.convert_to_numpy(two.optimizer.learning_rate)) == pytest.approx(0.01)
    assert two.evaluate(np.zeros((2, 8, 8, 3)), np.eye(2), verbose=0, return_dict=True).keys() == {
        "loss",
        "accuracy",
    }
    ten = compile_model(
        create_scratch_model("dense_baseline", (8, 8, 3), 10),
        TrainingSettings(learning_rate=0.01, optimizer="sgd"),
    )
    assert isinstance(ten.optimizer, keras.optimizers.SGD)
    metrics = ten.evaluate(np.zeros((2, 8, 8, 3)), np.eye(10)[:2], verbose=0, return_dict=True)
    assert set(metrics) == {"loss", "accuracy", "top5_accuracy"}
    with pytest.raises(ValueError, match=r"training\.optimizer = 'adagrad'"):
        TrainingSettings.from_config({"optimizer": "adagrad"})


def test_fit_learns_and_reports(data) -> None:
    train, val = data
    augmentation = build_augmentation({"flip": "horizontal", "contrast": 0.1}, seed=0)
    model = create_scratch_model("basenet", (16, 16, 3), 2, augmentation)
    assert not model.compiled
    model, history, summary = fit_model(
        model, train, val, {**FAST, "epochs": 3, "learning_rate": 3e-3}
    )
    assert model.compiled  # fit_model compiles with the settings' optimizer and learning rate
    assert set(history) == HISTORY_KEYS
    assert all(len(values) == summary["epochs_run"] == 3 for values in history.values())
    assert all(isinstance(value, float) for values in history.values() for value in values)
    assert history["learning_rate"][0] == pytest.approx(3e-3)
    assert max(history["val_accuracy"]) >= 0.9
    assert summary["trainable_params"] == summary["total_params"] == model.count_params()
    assert summary["train_time_s"] > 0
    probabilities = predict_proba(model, val["images"], batch_size=5)
    assert probabilities.dtype == np.float32 and probabilities.shape == (48, 2)
    np.testing.assert_allclose(
        probabilities, predict_proba(model, val["images"]), rtol=1e-5, atol=1e-6
    )
    assert predict_proba(model, val["images"][:0]).shape == (0, 2)
    as_float = predict_proba(model, val["images"].astype(np.float32), batch_size=64)
    np.testing.assert_allclose(as_float, probabilities, rtol=1e-5, atol=1e-6)  # uint8 or float in, same answer
    with pytest.raises(ValueError, match="at least 1"):
        predict_proba(model, val["images"], batch_size=0)


def test_configured_optimizer_and_learning_rate_replace_an_earlier_compile(data) -> None:
    """fit_model always compiles: a model compiled beforehand trains with the settings, not its own optimizer."""
    train, val = data
    model = create_scratch_model("dense_baseline", (16, 16, 3), 2)
    model.compile(optimizer=keras.optimizers.Adam(2e-4), loss="categorical_crossentropy")
    settings = {**FAST, "epochs": 1, "optimizer": "sgd", "learning_rate": 0.05, "label_smoothing": 0.2}
    model, history, _ = fit_model(model, train, val, settings)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert history["learning_rate"] == [pytest.approx(0.05)]
    assert model.loss.label_smoothing == pytest.approx(0.2)
    assert int(model.optimizer.iterations) == 6  # a fresh optimizer: one epoch of 96 / 16 batches


class _Sabotage(keras.callbacks.Callback):
    """After the first epoch, inverts the classifier and freezes training: every later epoch is worse than the first."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == 1:
            classifier = self.model.get_layer("predictions")
            classifier.set_weights([-weight for weight in classifier.get_weights()])
            self.model.optimizer.learning_rate = 0.0


def test_early_stopping_restores_the_best_epoch(data) -> None:
    train, val = data
    model = create_scratch_model("basenet", (16, 16, 3), 2)
    settings = {
        **FAST,
        "epochs": 6,
        "early_stopping_patience": 2,
        "reduce_lr_patience": None,
        "learning_rate": 3e-3,
    }
    model, history, summary = fit_model(model, train, val, settings, callbacks=[_Sabotage()])
    assert int(np.nanargmin(history["val_loss"])) == 0
    assert summary["epochs_run"] == 3  # the best epoch, then two without improvement
    assert _cross_entropy(model, val) == pytest.approx(history["val_loss"][0], rel=1e-3)


def test_balanced_class_weights_on_imbalanced_labels() -> None:
    labels = np.array([0] * 54 + [1] * 6)  # 9:1, and class 2 of the model never occurs
    train, val = stripes(60, labels=labels, seed=2), stripes(20, seed=3)
    model = create_scratch_model("basenet", (16, 16, 3), 3)
    weighted = fit_model(
        model, train, val, {**FAST, "class_weight": "balanced", "learning_rate": 3e-3}
    )[1]
    plain = fit_model(
        create_scratch_model("basenet", (16, 16, 3), 3), train, val, {**FAST, "learning_rate": 3e-3}
    )[1]
    # N / (classes present * count): the rare class counts 60 / (2 * 6) = 5x, the common one 60 / (2 * 54) = 0.56x;
    # the model's absent class 2 gets no weight (and no division by zero).
    assert balanced_class_weights(labels) == pytest.approx({0: 60 / 108, 1: 5.0})
    assert weighted["loss"][0] != pytest.approx(plain["loss"][0], rel=1e-3)
    with pytest.raises(ValueError, match=r"training\.class_weight = 'inverse'"):
        fit_model(model, train, val, {**FAST, "class_weight": "inverse"})


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == 1:
            raise KeyboardInterrupt  # e.g. Ctrl+C or a killed job in the middle of the second epoch


class _EpochRecorder(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[int] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epochs.append(epoch)


def test_interrupted_run_resumes_from_its_last_epoch(data, tmp_path: Path) -> None:
    train, val = data
    settings = {**FAST, "epochs": 3}
    with pytest.raises(KeyboardInterrupt):
        fit_model(
            create_scratch_model("basenet", (16, 16, 3), 2),
            train,
            val,
            settings,
            str(tmp_path),
            callbacks=[_Interrupt()],
        )
    assert (tmp_path / "backup").is_dir() and (tmp_path / "best.keras").is_file()

    recorder = _EpochRecorder()
    model, history, summary = fit_model(
        create_scratch_model("basenet", (16, 16, 3), 2),
        train,
        val,
        settings,
        str(tmp_path),
        callbacks=[recorder],
    )
    assert recorder.epochs == [1, 2]  # epoch 0 was not trained again
    assert (
        int(model.optimizer.iterations) == 3 * 6
    )  # optimizer state came back too: 3 epochs of 6 batches
    assert summary["epochs_run"] == 3 and all(len(values) == 3 for values in history.values())
    assert set(history) == HISTORY_KEYS
    assert not (tmp_path / "backup").exists()  # Keras removes the backup once training completes
    assert _cross_entropy(model, val) == pytest.approx(
        min(history["val_loss"]), rel=1e-3
    )  # best epoch's weights


def _small_convnet() -> keras.Model:
    keras.utils.set_random_seed(0)  # the same initial weights for both runs
    inputs = keras.Input((16, 16, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu")(inputs / 255.0))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Dropout(0.5)(features)))


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_a_resumed_run_ends_with_the_weights_of_the_uninterrupted_one(data, tmp_path: Path, optimizer: str) -> None:
    """The resumed epochs read the batches of the uninterrupted run in the same order (Keras's own batch shuffle,
    from Python's global random state, is off), Adam's moments come back with the weights, and dropout draws the
    masks it would have drawn (its seed generator's state is restored too)."""
    train, val = data
    settings = {**FAST, "epochs": 3, "optimizer": optimizer, "learning_rate": 0.01}
    uninterrupted, history, _ = fit_model(_small_convnet(), train, val, settings, str(tmp_path / "whole"))
    with pytest.raises(KeyboardInterrupt):
        fit_model(_small_convnet(), train, val, settings, str(tmp_path / "resumed"), callbacks=[_Interrupt()])
    resumed, resumed_history, _ = fit_model(_small_convnet(), train, val, settings, str(tmp_path / "resumed"))
    assert resumed_history["val_loss"] == history["val_loss"]
    for ours, theirs in zip(resumed.get_weights(), uninterrupted.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    ("train", "val", "named"),
    [
        (
            {"images": np.zeros((0, 16, 16, 3), np.uint8), "labels": np.zeros(0, int)},
            None,
            "'train'",
        ),
        (
            {"images": np.zeros((4, 16, 16, 3), np.uint8), "labels": np.array([0, 1, 2, 1])},
            None,
            r"'train'.*\b0\.\.2\b.*\b2\b",  # the labels' range and the model's classes
        ),
        (
            None,
            {"images": np.zeros((4, 32, 32, 3), np.uint8), "labels": np.zeros(4, int)},
            r"'val'.*\(4, 32, 32, 3\).*\(N, 16, 16, 3\)",
        ),
        (
            {"images": np.zeros((4, 16, 16, 3), np.uint8), "labels": np.zeros(3, int)},
            None,
            r"'train'\D*\b4\b\D*\b3\b",
        ),
        (
            {"pixels": np.zeros((4, 16, 16, 3), np.uint8)},
            None,
            r"'train'.*'images'.*'labels'.*\['pixels'\]",  # the keys it needs and the ones it has
        ),
    ],
)
def test_bad_inputs_are_named(data, train, val, named) -> None:
    model = create_scratch_model("basenet", (16, 16, 3), 2)
    with pytest.raises(ValueError, match=named):
        fit_model(model, train or data[0], val or data[1], FAST)


def test_unknown_setting_is_named(data) -> None:
    model = create_scratch_model("basenet", (16, 16, 3), 2)
    with pytest.raises(ValueError, match=r"training\.epoch = 3\b.*'epochs'"):  # with the closest known key
        fit_model(model, *data, {"epoch": 3, "checkpoint_root": "ignored/here"})


BUNDLED_PAINTINGS = Path(__file__).resolve().parents[1] / "src" / "image_classification" / "bundled" / "impressionists"


def test_fits_real_paintings(tmp_path: Path) -> None:
    """Bundled Monet and Van Gogh paintings at 32 px through a checkpointed run: shapes, files and history."""
    images, labels = [], []
    for label, folder in enumerate(("Monet", "VanGogh")):
        for path in sorted((BUNDLED_PAINTINGS / folder).iterdir())[:12]:
            with Image.open(path) as image:
                images.append(np.asarray(image.convert("RGB").resize((32, 32))))
            labels.append(label)
    split = {"images": np.stack(images), "labels": np.array(labels)}
    model = create_scratch_model(
        "cnn3_dropout", (32, 32, 3), 2, build_augmentation({"flip": "horizontal"}, seed=0)
    )
    model, history, summary = fit_model(model, split, split, {**FAST, "epochs": 1}, str(tmp_path))
    assert summary["epochs_run"] == 1 and set(history) == HISTORY_KEYS
    assert keras.saving.load_model(tmp_path / "best.keras").output_shape == (None, 2)


JAX_SCRIPT = textwrap.dedent(
    """
    import sys

    class NoTensorFlow:  # as on the GPU machines (JAX, no TensorFlow): importing it fails as if not installed
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "tensorflow_cpu"):
                raise ModuleNotFoundError(f"No module named {name!r}")

    sys.meta_path.insert(0, NoTensorFlow())
    import keras, numpy as np
    from image_classification.models.augmentation import build_augmentation
    from image_classification.models.inference import predict_proba
    from image_classification.models.scratch import create_scratch_model
    from image_classification.training import fit_model

    assert keras.backend.backend() == "jax", keras.backend.backend()
    rng = np.random.default_rng(0)
    split = {"images": rng.integers(0, 256, (32, 16, 16, 3)).astype(np.uint8), "labels": np.arange(32) % 2}
    augmentation = build_augmentation(
        {"flip": "horizontal", "rotation": 0.1, "zoom": 0.1, "translation": 0.1, "contrast": 0.1, "shear": 0.1}, seed=0
    )
    model = create_scratch_model("basenet", (16, 16, 3), 2, augmentation)
    config = {"epochs": 1, "batch_size": 16, "verbose": 0, "class_weight": "balanced"}
    model, history, summary = fit_model(model, split, split, config, checkpoint_dir=CHECKPOINT_DIR)
    assert summary["epochs_run"] == 1 and len(history["val_loss"]) == 1, history
    assert model.jit_compile is True  # the augmentation layers let Keras jit the train step
    assert predict_proba(model, split["images"]).shape == (32, 2)
    assert "tensorflow" not in sys.modules
    print("JAX OK")
    """
)


def test_fit_runs_on_jax_backend_without_tensorflow(tmp_path: Path) -> None:
    """The backend is fixed when Keras is imported, so the JAX run needs its own process."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip(
            'JAX is not installed: pip install "jax[cpu]" to check the backend-neutral code under JAX.'
        )
    source = Path(__file__).resolve().parents[1] / "src"
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")])),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    script = JAX_SCRIPT.replace("CHECKPOINT_DIR", repr(str(tmp_path)))
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "JAX OK" in result.stdout


def test_fit_accepts_cached_features() -> None:
    """Transfer learning trains a head on cached backbone features (N, D) through the same loop."""
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2
    features = (rng.normal(size=(40, 8)) + labels[:, None] * 4).astype(np.float32)
    inputs = keras.Input((8,))
    head = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    split = {"images": features, "labels": labels}
    _, history, summary = fit_model(head, split, split, {**FAST, "epochs": 12, "learning_rate": 0.1})
    assert summary["total_params"] == 18 and history["val_accuracy"][-1] >= 0.9
