"""The ``preprocess`` pipeline: splits -> resized uint8 arrays per split, plus an augmentation preview."""

from kedro.pipeline import Pipeline, node

from image_classification.pipelines.preprocess.nodes import build_image_arrays, preview_augmentation


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                build_image_arrays,
                inputs=["splits", "class_names", "params:preprocess"],
                outputs=["images_train", "images_val", "images_test"],
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
