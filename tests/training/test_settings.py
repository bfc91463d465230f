"""``TrainingSettings``: the one place of the training defaults and checks, and the cosine schedule it configures."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from pydantic import ValidationError

from image_classification.config import setting_keys
from image_classification.models.scratch import create_scratch_model
from image_classification.training import TrainingSettings, fit_model, merge_training_config
from image_classification.training.compile import learning_rate_schedule

COSINE = {"lr_schedule": "cosine", "reduce_lr_patience": None}


def _rate(schedule, step: int) -> float:
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_defaults_and_round_trip() -> None:
    settings = TrainingSettings()
    assert settings.as_dict() == {
        "epochs": 10, "batch_size": 32, "learning_rate": 1e-3, "optimizer": "adam", "momentum": 0.0, "lr_schedule": "constant",
        "warmup_epochs": 0.0, "min_lr_ratio": 0.0, "label_smoothing": 0.0, "class_weight": None,
        "early_stopping_patience": 5, "restore_best_epoch": True, "reduce_lr_patience": 3, "reduce_lr_factor": 0.5, "seed": 42, "verbose": 1,
        "checkpoint_root": None, "mixed_precision": False, "mixup_alpha": 0.0, "cutmix_alpha": 0.0,
        "mixing_switch_prob": 0.5,
    }  # fmt: skip
    assert setting_keys(TrainingSettings) == tuple(settings.as_dict())
    assert dict(settings) == settings.as_dict()  # a model reads as (key, value) pairs, as collect_training_blocks does
    assert TrainingSettings.from_config(None) == TrainingSettings.from_config({}) == settings
    assert TrainingSettings.from_config(settings.as_dict()) == settings
    with pytest.raises(ValidationError):
        settings.epochs = 3  # frozen: one object per fit, never changed on the way


def test_values_are_converted_to_the_field_types() -> None:
    settings = TrainingSettings.from_config(
        {"epochs": 3.0, "learning_rate": 1, "optimizer": "SGD", "lr_schedule": "Cosine", "reduce_lr_patience": None,
         "class_weight": "Balanced", "early_stopping_patience": None}  # fmt: skip
    )
    assert settings.epochs == 3 and isinstance(settings.epochs, int)
    assert settings.learning_rate == 1.0 and isinstance(settings.learning_rate, float)
    assert (settings.optimizer, settings.lr_schedule, settings.class_weight) == ("sgd", "cosine", "balanced")
    assert settings.early_stopping_patience is None


def test_merge_overrides_key_by_key_and_skips_missing_blocks() -> None:
    shared = {"epochs": 10, "learning_rate": 1e-3, "seed": 1}
    strategy = {"epochs": 40, "learning_rate": 1e-4}
    model = {"learning_rate": 5e-5}
    assert merge_training_config(shared, None, strategy, model) == {"epochs": 40, "learning_rate": 5e-5, "seed": 1}
    assert shared == {"epochs": 10, "learning_rate": 1e-3, "seed": 1}  # the blocks are not changed
    assert merge_training_config() == {}


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"epoch": 3}, r"finetune\.training\.epoch = 3\b.*'epochs'"),  # with the closest known key
        ({"optimiser": "sgd", "zzz": 1}, r"finetune\.training\.optimiser = 'sgd'.*'optimizer'.*finetune\.training\.zzz = 1\b"),
        ({"epochs": "abc"}, r"finetune\.training\.epochs = 'abc'"),
        ({"epochs": 2.5}, r"finetune\.training\.epochs = 2\.5\b"),
        ({"epochs": True}, r"finetune\.training\.epochs = True\b"),
        ({"learning_rate": "fast"}, r"finetune\.training\.learning_rate = 'fast'"),
        ({"epochs": None}, r"finetune\.training\.epochs = None\b"),
        ({"batch_size": 0}, r"finetune\.training\.batch_size = 0\b"),
        ({"learning_rate": 0}, r"finetune\.training\.learning_rate = 0\.0\b"),
        ({"optimizer": "lion"}, r"finetune\.training\.optimizer = 'lion'"),
        ({"lr_schedule": "step"}, r"finetune\.training\.lr_schedule = 'step'"),
        ({"lr_schedule": "cosine"}, r"finetune\.training\.reduce_lr_patience = 3\b.*lr_schedule 'cosine'"),
        ({"warmup_epochs": -1}, r"finetune\.training\.warmup_epochs = -1\.0\b"),
        ({"min_lr_ratio": 1.5}, r"finetune\.training\.min_lr_ratio = 1\.5\b"),
        ({"label_smoothing": 1}, r"finetune\.training\.label_smoothing = 1\.0\b"),
        ({"class_weight": "auto"}, r"finetune\.training\.class_weight = 'auto'"),
        ({"reduce_lr_factor": 2}, r"finetune\.training\.reduce_lr_factor = 2\.0\b"),
        ({"early_stopping_patience": -1}, r"finetune\.training\.early_stopping_patience = -1\b"),
    ],
)
def test_bad_settings_name_the_key_and_the_value(config, named) -> None:
    with pytest.raises(ValueError, match=named):
        TrainingSettings.from_config(config, where="finetune.training")


def test_constant_schedule_is_the_learning_rate() -> None:
    assert learning_rate_schedule(TrainingSettings(learning_rate=0.02), steps_per_epoch=7) == 0.02


def test_cosine_schedule_warms_up_then_decays_to_the_minimum() -> None:
    settings = TrainingSettings(
        epochs=5, learning_rate=0.1, warmup_epochs=1, min_lr_ratio=0.1, **COSINE
    )
    schedule = learning_rate_schedule(settings, steps_per_epoch=4)  # 20 steps, 4 of warmup
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert _rate(schedule, 0) == pytest.approx(0.0, abs=1e-9)  # starts near 0
    assert _rate(schedule, 2) == pytest.approx(0.05)  # linear warmup
    assert _rate(schedule, 4) == pytest.approx(0.1)  # the peak at the end of warmup
    assert _rate(schedule, 12) == pytest.approx(0.01 + 0.09 * 0.5)  # halfway through the cosine
    assert _rate(schedule, 20) == pytest.approx(0.01)  # min_lr_ratio * learning_rate after the last step
    rates = [_rate(schedule, step) for step in range(21)]
    assert np.all(np.diff(rates[:5]) > 0) and np.all(np.diff(rates[4:]) < 0)
    assert min(rates[4:]) == pytest.approx(0.01)

    no_warmup = learning_rate_schedule(TrainingSettings(epochs=2, learning_rate=0.1, **COSINE), steps_per_epoch=3)
    assert _rate(no_warmup, 0) == pytest.approx(0.1) and _rate(no_warmup, 6) == pytest.approx(0.0, abs=1e-9)


def test_a_cosine_fit_logs_a_rate_that_rises_then_falls() -> None:
    rng = np.random.default_rng(0)
    split = {"images": rng.integers(0, 256, (16, 8, 8, 3)).astype(np.uint8), "labels": np.arange(16) % 2}
    settings = {
        "epochs": 5, "batch_size": 4, "learning_rate": 0.01, "warmup_epochs": 2, "min_lr_ratio": 0.2,
        "early_stopping_patience": None, "verbose": 0, "seed": 0, **COSINE,
    }  # fmt: skip
    model, history, _ = fit_model(create_scratch_model("dense_baseline", (8, 8, 3), 2), split, split, settings)
    rates = history["learning_rate"]  # read after each epoch of 4 steps: steps 4, 8, 12, 16, 20 of 20 (8 warmup)
    assert len(rates) == 5
    assert rates[0] == pytest.approx(0.005) and rates[1] == pytest.approx(0.01)  # warmup to the peak
    assert rates[2] > rates[3] > rates[4]  # cosine decay
    assert rates[4] == pytest.approx(0.002)  # down to min_lr_ratio * learning_rate
    schedule = model.optimizer.get_config()["learning_rate"]  # the compiled optimizer holds the schedule
    assert schedule["class_name"] == "CosineDecay"
    assert schedule["config"] | {"name": None} == {
        "initial_learning_rate": 0.0, "warmup_target": 0.01, "warmup_steps": 8, "decay_steps": 12, "alpha": 0.2,
        "name": None,
    }  # fmt: skip
