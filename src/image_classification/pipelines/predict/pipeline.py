"""The ``predict`` pipeline (a folder of new images -> predictions CSV) and the servable MLflow model.

``predict.model`` names the trained model namespace to use (``transfer.mobilenet_v2``); its input is
``<namespace>.model``, whose catalog factory loads the latest version (``--load-versions`` picks another).

:func:`create_serving_pipeline` builds kedro-mlflow's ``PipelineML``: the training steps that produce that model, and
the same inference steps as ``predict``, which kedro-mlflow logs as an MLflow pyfunc model at the end of the run
(registered as ``train_and_serve`` by ``pipelines/train_and_serve``). Both read ``predict.model`` from the model plan.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kedro.pipeline import Pipeline, node

from image_classification.models.prediction_table import pinned_requirements, serving_signature
from image_classification.pipelines.predict.nodes import (
    classify_images,
    decode_folder_images,
    decode_images,
    image_table_from_folder,
    stage_for_serving,
)
from image_classification.project.model_plan import ModelPlan, current_model_plan

#: The one free input of the inference steps: a table with a base64 ``image`` column (and optionally ``file``).
IMAGE_TABLE = "prediction_images"
#: Unversioned copies of the chosen model and class names that the MLflow model is packed from (catalog_predict.yml).
SERVING_MODEL = "serving_model"
SERVING_CLASS_NAMES = "serving_class_names"
#: Where the MLflow model lands in the run: ``runs:/<run_id>/model``.
MLFLOW_MODEL_NAME = "model"


def chosen_model(parameters: dict[str, Any] | None = None) -> str:
    """The model namespace in ``predict.model``, e.g. ``"transfer.mobilenet_v2"``.

    Args:
        parameters: All project parameters; default: the model plan's ``predict.model``.

    Raises:
        ValueError: The setting is missing or not ``<strategy>.<name>``.
    """
    plan = current_model_plan() if parameters is None else ModelPlan.from_parameters(parameters)
    return plan.served_model()


def inference_pipeline(model: str, class_names: str, decode: Callable = decode_images) -> Pipeline:
    """Decode and classify the images of ``prediction_images``, giving ``predictions``.

    Args:
        model: Dataset holding the trained ``keras.Model``.
        class_names: Dataset holding its class names.
        decode: ``decode_images`` (served: a bad row gets a ``problem``), or ``decode_folder_images`` (a folder of
            which nothing is usable is an error).
    """
    return Pipeline(
        [
            node(
                decode,
                inputs=[IMAGE_TABLE, "params:preprocess", model],  # resized to the size the model takes
                outputs=["prediction_pixels", "prediction_rows"],
                name="decode_images",
            ),
            node(
                classify_images,
                inputs=[
                    model,
                    class_names,
                    "prediction_pixels",
                    "prediction_rows",
                    "params:predict.top_k",
                    "params:predict.batch_size",
                ],
                outputs="predictions",
                name="classify_images",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    """``predict``: images below ``predict.images_dir`` -> ``predictions`` with the model named in ``predict.model``."""
    return Pipeline(
        [
            node(
                image_table_from_folder,
                inputs="params:predict.images_dir",
                outputs=IMAGE_TABLE,
                name="image_table_from_folder",
            ),
            inference_pipeline(f"{chosen_model()}.model", "class_names", decode_folder_images),
        ],
        tags="predict",
    )


def create_serving_pipeline(training: Pipeline) -> Pipeline:
    """kedro-mlflow's ``PipelineML``: train the ``predict.model`` model, then log the inference steps with it.

    At the end of a run kedro-mlflow's hook logs an MLflow pyfunc model (``runs:/<run_id>/model``) that runs the
    inference steps on a DataFrame of base64 images, with the model, class names and ``preprocess``/``predict``
    parameters of this run packed in as artifacts.

    Args:
        training: All training pipelines; only the steps the chosen model needs are kept. When it does not produce
            that model (not configured for training any more), the latest saved version is packed as it is.

    Returns:
        A ``PipelineML``; register it on its own, since adding it to another pipeline makes it a plain one again.
    """
    from kedro_mlflow.pipeline import pipeline_ml_factory

    plan = current_model_plan()
    namespace = plan.served_model()
    model = f"{namespace}.model"
    steps = training.to_outputs(model) if model in training.all_outputs() else Pipeline([])
    staging = node(
        stage_for_serving,
        inputs=[model, "class_names"],
        outputs=[SERVING_MODEL, SERVING_CLASS_NAMES],
        name="stage_for_serving",
        tags="serving",
    )
    return pipeline_ml_factory(
        training=steps + Pipeline([staging]),
        inference=inference_pipeline(SERVING_MODEL, SERVING_CLASS_NAMES),
        input_name=IMAGE_TABLE,
        log_model_kwargs={
            "name": MLFLOW_MODEL_NAME,
            "signature": serving_signature(plan.predict_top_k),
            # The project's code travels inside the model, so serving needs no install of it.
            "code_paths": [str(Path(__file__).resolve().parents[2])],
            # Explicit requirements: inferring them would load the model again in a subprocess at the end of each run.
            "pip_requirements": pinned_requirements(),
        },
    )
