"""The ``gan`` pipeline (``kedro run --pipelines gan``): a DCGAN trained on the preprocessed images, and scored.

Inputs ``images_train``, ``images_val``, ``images_test`` (from ``preprocess``) and ``params:gan``. Outputs, all
named ``gan.*``: the trained ``generator``, its ``history`` and ``epoch_metrics`` (losses per epoch), the
``sample_grids`` of a fixed noise batch per epoch with their ``samples_gif`` and ``sample_evolution_figure``, the
``scores`` (KID and FID against the test images, with two references, and the share of the gap closed) and
``score_metrics`` for MLflow, and the copying check (``copy_check`` table, ``copy_check_figure``,
``copy_check_metrics``).
Not part of ``__default__`` (see ``pipeline_registry.py``).
"""

from kedro.pipeline import Node, Pipeline

from image_classification.pipelines.gan.figures import plot_sample_evolution, samples_gif
from image_classification.pipelines.gan.nodes import (
    generate_images,
    history_to_epoch_metrics,
    resize_images,
    train_gan,
    untrained_generator,
)
from image_classification.pipelines.gan.scoring import (
    check_copying,
    generative_scores,
    image_features,
)

PARAMETERS = "params:gan"
#: The preprocess arrays the pipeline reads, outside its ``gan`` namespace.
SHARED_INPUTS = ("images_train", "images_val", "images_test")


def create_pipeline(**kwargs) -> Pipeline:
    """The steps below, namespaced ``gan``: ``generator`` is the dataset ``gan.generator``, and so on."""
    steps = [
        Node(
            resize_images,
            [*SHARED_INPUTS, PARAMETERS],
            ["training_images", "test_images"],
            name="resize_images",
        ),
        Node(train_gan, ["training_images", PARAMETERS], ["generator", "history", "sample_grids"], name="train_gan"),
        Node(history_to_epoch_metrics, "history", "epoch_metrics", name="log_epoch_metrics"),
        Node(samples_gif, "sample_grids", "samples_gif", name="animate_samples"),
        Node(plot_sample_evolution, "sample_grids", "sample_evolution_figure", name="plot_sample_evolution"),
        Node(untrained_generator, PARAMETERS, "untrained_generator", name="build_untrained_generator"),
        Node(generate_images, ["generator", PARAMETERS], "generated_images", name="generate_images"),
        Node(
            generate_images,
            ["untrained_generator", PARAMETERS],
            "untrained_generated_images",
            name="generate_untrained_images",
        ),
        Node(
            image_features,
            {
                "training_images": "training_images",
                "test_images": "test_images",
                "generated_images": "generated_images",
                "untrained_generated_images": "untrained_generated_images",
                "config": PARAMETERS,
            },
            "features",
            name="extract_features",
        ),
        Node(generative_scores, ["features", PARAMETERS], ["scores", "score_metrics"], name="score_images"),
        Node(
            check_copying,
            ["features", "training_images", "generated_images", PARAMETERS],
            ["copy_check", "copy_check_figure", "copy_check_metrics"],
            name="check_copying",
        ),
    ]
    return Pipeline(
        steps, namespace="gan", inputs=set(SHARED_INPUTS), parameters={PARAMETERS: PARAMETERS}, tags="gan"
    )
