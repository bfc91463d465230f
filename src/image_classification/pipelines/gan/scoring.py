"""Nodes that score the GAN: features of every image set, KID and FID against the test images, the copying check.

Scores compare images with the held-out test split on the pooled features of the bundled ImageNet MobileNetV2, and
also on Inception-v3's (the papers' network) when its ImageNet weights are in Keras's cache (``$KERAS_HOME/models``
or ``~/.keras/models``); they are not bundled and not downloaded. MobileNetV2 scores are not comparable with
published (Inception) ones, only with each other.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from image_classification.pipelines.gan.figures import plot_copying_check
from image_classification.pipelines.gan.nodes import gan_settings

logger = logging.getLogger(__name__)

#: The feature network always used: MobileNetV2, whose ImageNet weights ship with the package.
FEATURE_BACKBONE = "mobilenet_v2"
#: The papers' feature network, used as well when its ImageNet weights are cached locally.
INCEPTION = "inception_v3"
#: Inception-v3's native input side (the papers resize every image to it).
INCEPTION_SIZE = 299
#: Image sets scored against the test images, in the order of the scores table.
COMPARISONS = {
    "real_train": "real training images (reference: real vs real)",
    "untrained_generator": "untrained paper DCGAN, fixed (reference)",
    "generator": "trained generator (moving average of its weights)",
}


def inception_weights() -> Path | None:
    """Inception-v3's ImageNet no-top weights in Keras's cache folders, or None (never downloaded)."""
    # Imported here: Keras is not needed to register the pipeline.
    from image_classification.models.backbones import get_backbone_spec  # noqa: PLC0415
    from image_classification.models.weights import keras_cache_dirs  # noqa: PLC0415

    name = get_backbone_spec(INCEPTION).keras_weights_file
    return next((folder / name for folder in keras_cache_dirs() if (folder / name).is_file()), None)


def _feature_networks(size: int) -> dict[str, tuple[Any, Any, int]]:
    """Name -> (pooled feature extractor (a ``keras.Model``), its preprocess_input, its input side)."""
    # Imported here: Keras is not needed to register the pipeline.
    import keras  # noqa: PLC0415

    from image_classification.models.backbones import get_backbone_spec, resolve_weights  # noqa: PLC0415
    from image_classification.models.weights import keras_cache_dirs  # noqa: PLC0415

    networks = {}
    weights = resolve_weights(FEATURE_BACKBONE, "imagenet")  # the bundled file: no download
    mobilenet = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), include_top=False, weights=str(weights), pooling="avg"
    )
    networks[FEATURE_BACKBONE] = (mobilenet, get_backbone_spec(FEATURE_BACKBONE).preprocess_input, size)
    inception = inception_weights()
    if inception is None:
        folders = " or ".join(str(folder) for folder in keras_cache_dirs())
        logger.info("Inception-v3 weights not found in %s: scored on MobileNetV2 features only.", folders)
    else:
        model = keras.applications.InceptionV3(
            input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3), include_top=False, weights=str(inception), pooling="avg"
        )
        networks[INCEPTION] = (model, get_backbone_spec(INCEPTION).preprocess_input, INCEPTION_SIZE)
    return networks


def image_features(
    training_images: np.ndarray,
    test_images: np.ndarray,
    generated_images: np.ndarray,
    untrained_generated_images: np.ndarray,
    config: dict[str, Any],
) -> dict[str, dict[str, np.ndarray]]:
    """Pooled features of the test images and of each set compared with them, per feature network.

    Every set is at ``image_size`` (the real ones resized like the generated ones are), then resized to
    ``feature_image_size`` (MobileNetV2) or 299 px (Inception-v3), so resolution alone does not tell real from
    generated.

    Returns:
        ``{network: {"test", "training", "real_train", "untrained_generator", "generator": float32 (N, d)}}``;
        ``training`` holds every training image (the copying check), ``real_train`` at most ``eval_samples`` of
        them drawn with ``score_seed`` (the real-vs-real reference).
    """
    # Imported here: Keras is not needed to register the pipeline.
    import keras  # noqa: PLC0415

    settings = gan_settings(config)
    rng = np.random.default_rng(settings.score_seed)
    count = min(settings.eval_samples, len(training_images))
    real_train = np.sort(rng.choice(len(training_images), count, replace=False))
    sets = {"test": test_images, "training": training_images, "untrained_generator": untrained_generated_images,
            "generator": generated_images}  # fmt: skip
    features = {}
    for name, (extractor, preprocess, side) in _feature_networks(settings.feature_image_size).items():
        features[name] = {}
        for set_name, images in sets.items():
            resized = keras.ops.image.resize(images.astype("float32"), (side, side), interpolation="bilinear")
            output = extractor.predict(preprocess(resized), batch_size=64, verbose=0)
            features[name][set_name] = np.asarray(output, dtype=np.float32)
        features[name]["real_train"] = features[name]["training"][real_train]
    return features


def generative_scores(
    features: dict[str, dict[str, np.ndarray]], config: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, list[dict[str, float]]]]:
    """KID and FID of each image set against the held-out test images, and the share of the gap each closes.

    Returns:
        A table (one row per feature network and compared set: ``features``, ``comparison``, ``description``,
        ``images``, ``test_images``, ``kid`` (mean over subsets), ``kid_std`` (bootstrap), ``kid_subset_std``,
        ``kid_subset_size``, ``fid``, ``gap_closed``: the share of the KID gap from the untrained reference to real
        vs real) and the same scores as MLflow metrics (``kid.<set>``, ``fid.<set>``, ``gap_closed.generator``;
        prefixed ``inception_v3.`` for Inception features).
    """
    # Imported here: SciPy is not needed to register the pipeline.
    from image_classification.reporting.generative_metrics import (  # noqa: PLC0415
        frechet_distance,
        gap_closed,
        kernel_distance,
        kid_bootstrap_std,
    )

    settings = gan_settings(config)
    rows = []
    for network, sets in features.items():
        test = sets["test"]
        for name, description in COMPARISONS.items():
            kid = kernel_distance(test, sets[name], settings.kid_subsets, settings.kid_subset_size, settings.score_seed)
            rows.append({
                "features": network, "comparison": name, "description": description, "images": len(sets[name]),
                "test_images": len(test), "kid": kid.mean,
                "kid_std": kid_bootstrap_std(test, sets[name], settings.kid_bootstraps, settings.score_seed),
                "kid_subset_std": kid.std, "kid_subset_size": kid.subset_size,
                "fid": frechet_distance(test, sets[name]),
            })  # fmt: skip
        kids = {row["comparison"]: row["kid"] for row in rows[-len(COMPARISONS) :]}
        for row in rows[-len(COMPARISONS) :]:
            row["gap_closed"] = gap_closed(row["kid"], kids["untrained_generator"], kids["real_train"])
            logger.info(
                "%s features, %s vs test: KID %.4f ± %.4f (bootstrap), FID %.1f, gap closed %.0f%%",
                network, row["comparison"], row["kid"], row["kid_std"], row["fid"], 100 * row["gap_closed"],
            )  # fmt: skip
    scores = pd.DataFrame(rows)
    metrics = {}
    for row in rows:
        prefix = "" if row["features"] == FEATURE_BACKBONE else f"{row['features']}."
        for metric in ("kid", "fid"):
            metrics[f"{prefix}{metric}.{row['comparison']}"] = [{"value": float(row[metric]), "step": 0}]
        if row["comparison"] == "generator":
            metrics[f"{prefix}gap_closed.generator"] = [{"value": float(row["gap_closed"]), "step": 0}]
    return scores, metrics


def check_copying(
    features: dict[str, dict[str, np.ndarray]],
    training_images: np.ndarray,
    generated_images: np.ndarray,
    config: dict[str, Any],
) -> tuple[pd.DataFrame, Figure, dict[str, list[dict[str, float]]]]:
    """The copying check on MobileNetV2 features: is each generated image closer to a training image than unseen
    real images are?

    Args:
        features: ``image_features``'s output.
        training_images: uint8 training images (for the figure).
        generated_images: uint8 generated images (``eval_samples``; the first ``copy_check_samples`` are shown).
        config: ``params:gan``.

    Returns:
        One row per generated, test and untrained-reference image (``set``, ``index``, ``nearest_training``,
        ``distance``); a figure of the first ``copy_check_samples`` generated images beside their nearest training
        image, above the two distance distributions; and MLflow metrics
        ``copy_check.{generated,test,untrained}_median``, ``copy_check.passed`` (1 when the generated median is at
        least the test one).
    """
    # Imported here: SciPy is not needed to register the pipeline.
    from image_classification.reporting.generative_metrics import copying_check, nearest_neighbours  # noqa: PLC0415

    settings = gan_settings(config)
    sets = features[FEATURE_BACKBONE]
    check = copying_check(sets["generator"], sets["test"], sets["training"])
    # The same distances for the untrained reference, which cannot have copied anything: how low the generated
    # median goes for images that are merely featureless, not copies.
    untrained_nearest, untrained_distances = nearest_neighbours(sets["untrained_generator"], sets["training"])
    logger.info(
        "Copying check: median distance to the nearest training image %.2f for generated, %.2f for test images "
        "(%.2f for the untrained reference): %s.", check.generated_median, check.test_median,
        np.median(untrained_distances), "passed" if check.passed else "not passed (closer than unseen paintings)",
    )  # fmt: skip
    shown = settings.copy_check_samples
    figure = plot_copying_check(
        generated_images[:shown], training_images[check.generated_nearest[:shown]], check.generated_distances[:shown],
        check.generated_distances, check.test_distances,
    )  # fmt: skip
    parts = (("generated", check.generated_nearest, check.generated_distances),
             ("test", check.test_nearest, check.test_distances),
             ("untrained_generator", untrained_nearest, untrained_distances))  # fmt: skip
    table = pd.concat(
        [pd.DataFrame({"set": name, "index": np.arange(len(distances)), "nearest_training": nearest,
                       "distance": distances}) for name, nearest, distances in parts],
        ignore_index=True,
    )  # fmt: skip
    metrics = {
        "copy_check.generated_median": [{"value": check.generated_median, "step": 0}],
        "copy_check.test_median": [{"value": check.test_median, "step": 0}],
        "copy_check.untrained_median": [{"value": float(np.median(untrained_distances)), "step": 0}],
        "copy_check.passed": [{"value": float(check.passed), "step": 0}],
    }
    return table, figure, metrics
