"""Scratch model registry: every model builds, has the expected size, and rejects bad requests clearly."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from image_classification.models.augmentation import build_augmentation
from image_classification.models.scratch import SCRATCH_MODELS, create_scratch_model, model_min_size

# Parameters at input 32x32x3 with 25 classes, counted by hand (conv: k*k*in*out + out; dense: in*out + out;
# BatchNormalization: 4 per channel, 2 of them trainable). (total, trainable)
EXPECTED_PARAMS = {
    # Flatten 3072 -> Dense 128: 393,344; Dense 25: 3,225
    "dense_baseline": (396_569, 396_569),
    # conv 5*5*3*6+6 = 456 (28x28) -> pool 14 -> conv 5*5*6*16+16 = 2,416 (10x10) -> pool 5 -> flatten 400
    # -> Dense 50: 20,050 -> Dense 25: 1,275
    "basenet": (24_197, 24_197),
    # 'same' convs: 456 + BN 24 | 5*5*6*56+56 = 8,456 + BN 224 | 5*5*56*106+106 = 148,506 + BN 424;
    # pools 32->16->8->4, flatten 4*4*106 = 1,696 -> Dense 50: 84,850 -> Dense 25: 1,275.
    # Non-trainable: BN moving mean/variance 2*(6+56+106) = 336.
    "basenet_bn": (244_215, 243_879),
    # convs 896 + 18,496 + 73,856; flatten 4*4*128 = 2,048 -> Dense 128: 262,272 -> Dense 25: 3,225
    "cnn3_dropout": (358_745, 358_745),
    # bias-free convs. stem 3*3*3*32 = 864 + BN 128; stage1 2*9,216 + 2 BN 128 = 18,688;
    # stage2 18,432 + 36,864 + proj 2,048 + 3 BN 256 = 58,112; stage3 73,728 + 147,456 + proj 8,192 + 3 BN 512
    # = 230,912; Dense 128*25+25 = 3,225. Non-trainable: 2*(32 + 2*32 + 3*64 + 3*128) = 1,344.
    "residual_cnn": (311_929, 310_585),
}

# Smallest image sides: basenet 16 -> conv 12 -> pool 6 -> conv 2 -> pool 1 (15 -> 11 -> 5 -> 1 -> 0 fails);
# three halving 'same' blocks need 8; residual_cnn halves twice, so 4.
EXPECTED_MIN_SIZE = {
    "dense_baseline": 1,
    "basenet": 16,
    "basenet_bn": 8,
    "cnn3_dropout": 8,
    "residual_cnn": 4,
}


def _trainable(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_every_registered_model_has_expected_numbers() -> None:
    assert set(EXPECTED_PARAMS) == set(SCRATCH_MODELS) == set(EXPECTED_MIN_SIZE)


@pytest.mark.parametrize("name", sorted(SCRATCH_MODELS))
def test_model_shape_and_parameter_count(name: str) -> None:
    model = create_scratch_model(name, (32, 32, 3), 25)
    assert model.name == name
    assert model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 25)
    assert (model.count_params(), _trainable(model)) == EXPECTED_PARAMS[name]
    assert model.layers[1].name == "rescaling"
    probabilities = keras.ops.convert_to_numpy(model(np.full((2, 32, 32, 3), 128.0, np.float32)))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(SCRATCH_MODELS))
def test_minimum_input_size(name: str) -> None:
    size = EXPECTED_MIN_SIZE[name]
    assert model_min_size(name) == size
    model = create_scratch_model(name, (size, size + 3, 3), 3)
    assert keras.ops.convert_to_numpy(
        model(np.zeros((1, size, size + 3, 3), np.float32))
    ).shape == (1, 3)
    if size > 1:
        with pytest.raises(ValueError, match=rf"'{name}'.*\b{size}x{size}\b.*\b{size + 3}x{size - 1}\b"):
            create_scratch_model(name, (size + 3, size - 1, 3), 3)


def test_augmentation_sits_before_rescaling_and_saves_with_the_model(tmp_path) -> None:
    augmentation = build_augmentation(
        {"flip": "horizontal", "rotation": 0.1, "contrast": 0.1}, seed=0
    )
    model = create_scratch_model("basenet", (32, 32, 3), 4, augmentation)
    assert [layer.name for layer in model.layers[1:3]] == ["augmentation", "rescaling"]
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(images)),
        keras.ops.convert_to_numpy(model(images)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_options_reach_the_model() -> None:
    model = create_scratch_model("dense_baseline", (8, 8, 3), 2, hidden_units=4)
    assert model.count_params() == 8 * 8 * 3 * 4 + 4 + 4 * 2 + 2
    residual = create_scratch_model(
        "residual_cnn", [16, 16, 3], 2, filters=[8, 16], weight_decay=0, stem_stride=2
    )
    assert residual.get_layer("stage2_block1_conv1").output.shape[1:3] == (4, 4)
    assert not residual.losses  # no L2 penalty when weight_decay is 0


def test_unknown_model_lists_available_names() -> None:
    with pytest.raises(ValueError, match="'lenet'") as error:
        create_scratch_model("lenet", (32, 32, 3), 2)
    for name in SCRATCH_MODELS:
        assert name in str(error.value)


def test_unknown_option_lists_allowed_options() -> None:
    with pytest.raises(ValueError, match=r"\['units'\].*'dense_baseline'.*\bhidden_units\b.*\bdropout\b"):
        create_scratch_model("dense_baseline", (8, 8, 3), 2, units=3)
    with pytest.raises(ValueError, match=r"\['dropout'\].*'basenet'"):
        create_scratch_model("basenet", (32, 32, 3), 2, dropout=0.1)


def test_seed_makes_the_same_model() -> None:
    first, second, other = (
        create_scratch_model("basenet", (16, 16, 3), 2, seed=seed) for seed in (3, 3, 4)
    )
    np.testing.assert_array_equal(first.get_weights()[0], second.get_weights()[0])
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])


@pytest.mark.parametrize("name", ["residual_cnn", "basenet_bn"])
def test_batch_normalised_nets_predict_in_inference_mode_what_they_learned_in_a_few_steps(name: str) -> None:
    """A few dozen steps (a small data set's few epochs) must leave the moving statistics usable: validation runs in
    inference mode. With Keras's default momentum (0.99) they still sat near their initial values here."""
    rng = np.random.default_rng(0)
    labels = np.arange(128) % 2
    # Dark or bright images, with noise: a trivial task, so only the batch norm statistics can fail it.
    images = (np.where(labels[:, None, None, None] == 1, 170.0, 85.0) + rng.normal(0, 30, (128, 32, 32, 3)))
    images = images.clip(0, 255).astype("float32")
    model = create_scratch_model(name, (32, 32, 3), 2, seed=0)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    model.fit(images[:96], labels[:96], batch_size=8, epochs=4, verbose=0)  # 48 steps

    predicted = model.predict(images[96:], verbose=0).argmax(axis=1)
    assert (predicted == labels[96:]).mean() >= 0.9
