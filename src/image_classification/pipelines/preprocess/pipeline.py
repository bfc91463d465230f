"""The ``preprocess`` pipeline: splits -> resized uint8 arrays per split (one cache per image size the model plan
needs), plus an augmentation preview."""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from image_classification.data.settings import SPLITS
from image_classification.pipelines.preprocess.nodes import build_image_arrays, preview_augmentation
from image_classification.project.model_plan import current_model_plan, images_dataset


def create_pipeline(extra_sizes: tuple[int, ...] | None = None, **kwargs) -> Pipeline:
    """Builds the ``preprocess`` pipeline.

    Args:
        extra_sizes: Image sizes besides ``preprocess.image_size`` to write caches for; default: the model plan's
            (``ModelPlan.extra_image_sizes``), none when every model takes the default size.
        **kwargs: Ignored; accepted for Kedro's pipeline discovery.

    Returns:
        ``build_image_arrays`` (``images_<split>``, then ``images_<size>px_<split>`` per extra size) and
        ``preview_augmentation``, tagged ``preprocess``.
    """
    if extra_sizes is None:
        extra_sizes = current_model_plan().extra_image_sizes()
    # The names only: images_<split> is the default size whatever it is, so 0 stands for it here.
    outputs = [f"images_{split}" for split in SPLITS]
    outputs += [images_dataset(split, size, 0) for size in extra_sizes for split in SPLITS]
    build = (
        update_wrapper(partial(build_image_arrays, extra_sizes=tuple(extra_sizes)), build_image_arrays)
        if extra_sizes
        else build_image_arrays
    )
    return Pipeline(
        [
            node(
                build,
                inputs=["splits", "class_names", "params:preprocess"],
                outputs=outputs,
                name="build_image_arrays",
            ),
            node(
                preview_augmentation,
                inputs=["images_train", "params:preprocess.augmentation"],
                outputs="augmentation_preview_figure",
                name="preview_augmentation",
            ),
        ],
        tags="preprocess",
    )
