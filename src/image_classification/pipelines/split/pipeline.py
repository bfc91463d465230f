"""The ``split`` pipeline: manifest -> selected classes -> stratified train/val/test splits."""

from kedro.pipeline import Pipeline, node

from image_classification.pipelines.split.nodes import select_classes, split_dataset


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                select_classes,
                inputs=["manifest", "params:split.selection"],
                outputs="selected_manifest",
                name="select_classes",
            ),
            node(
                split_dataset,
                inputs=["selected_manifest", "params:split"],
                outputs=["splits", "class_names"],
                name="split_dataset",
            ),
        ],
        tags="split",
    )
