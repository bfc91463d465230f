"""Feature-extraction mode: seconds per epoch of head training on cached embeddings vs through the frozen backbone.

Both ways train the same head (``transfer.models.mobilenet_v2.head`` of the project's parameters) of one classifier
built by ``models.transfer.build_transfer_model`` with the project's ``training.fit_model``, which compiles it with the
project's training settings (``training`` merged with ``transfer.training``, as the transfer pipeline does):

* **From images (end to end)**: ``fit_model(classifier, images)``: every epoch runs the augmented training images and
  the validation images through the frozen MobileNetV2 (``mode: end_to_end``).
* **On cached embeddings**: ``extract_features`` runs the backbone once over train and validation images (timed on
  its own row), then ``fit_model(head_model(classifier), features)`` (``mode: feature_extraction``).

An epoch includes its validation pass in both ways, as in training. Early stopping and learning-rate reduction are
off so every epoch runs.

    python benchmarks/feature_extraction.py                  # cats_vs_dogs_2k, 160 px, 3 epochs each
    python benchmarks/feature_extraction.py --limit 40 --epochs 1 --data ../shared/datasets/cats_dogs_tiny
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import common

common.setup_environment()


def steady_epoch(seconds: list[float]) -> float:
    """Median epoch time without the first epoch (which also traces and compiles), or the first if it is alone."""
    return statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=common.CATS_VS_DOGS, help="image folder (default: %(default)s)")
    parser.add_argument("--labels", choices=("auto", "folder", "filename"), default="auto")
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=64, help="the project's transfer.training.batch_size")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per way")
    parser.add_argument("--weights", default="imagenet", help="backbone weights: imagenet, a file, or null")
    parser.add_argument("--limit", type=int, default=None, help="use about this many images (quick runs)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--results", type=Path, default=None, help="also write the section into this Markdown file")
    args = parser.parse_args(argv)

    data_dir = common.require_dir(args.data, "Image folder")
    machine = common.Machine()
    print(f"Preparing {data_dir} through the project's ingest/split/preprocess nodes ...", flush=True)  # noqa: T201
    prepared = common.prepare_data(data_dir, args.image_size, labels_from=args.labels, limit=args.limit, seed=args.seed)

    from image_classification.models.augmentation import build_augmentation
    from image_classification.models.transfer import (
        build_transfer_model,
        extract_features,
        head_model,
    )
    from image_classification.training import TrainingSettings, fit_model, merge_training_config

    transfer = common.project_parameters("transfer")
    model_settings = transfer["models"]["mobilenet_v2"]
    # The blocks the transfer pipeline merges (shared, strategy, model), then this benchmark's own overrides.
    settings = TrainingSettings.from_config(
        merge_training_config(
            common.project_parameters("training"),
            transfer.get("training"),
            model_settings.get("training"),
            {
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "seed": args.seed,
                "lr_schedule": "constant",
                "early_stopping_patience": None,
                "reduce_lr_patience": None,
                "verbose": 0,
                "checkpoint_root": None,
            },
        ),
        where="transfer.training",
    )
    weights = None if args.weights in ("null", "none", "random") else args.weights

    def classifier():
        return build_transfer_model(
            model_settings["backbone"],
            (args.image_size, args.image_size, 3),
            len(prepared.class_names),
            weights,
            model_settings.get("head"),
            pooling=model_settings.get("pooling", "avg"),
            augmentation=build_augmentation(common.benchmark_augmentation(), seed=args.seed),
        )

    print(f"Training the head from images (end to end) for {args.epochs} epoch(s) ...", flush=True)  # noqa: T201
    images_timer = common.epoch_timer()
    fit_model(classifier(), prepared.train, prepared.val, settings, callbacks=[images_timer])

    print("Extracting features, then training the head on them ...", flush=True)  # noqa: T201
    cached = classifier()
    started = time.perf_counter()
    features = {
        split: {
            "images": extract_features(cached, bundle["images"], args.batch_size),
            "labels": bundle["labels"],
        }
        for split, bundle in (("train", prepared.train), ("val", prepared.val))
    }
    extraction_s = time.perf_counter() - started
    features_timer = common.epoch_timer()
    fit_model(head_model(cached), features["train"], features["val"], settings, callbacks=[features_timer])
    machine.finish()

    images_epoch, features_epoch = steady_epoch(images_timer.seconds), steady_epoch(features_timer.seconds)
    speedup = images_epoch / features_epoch
    n_train, n_val = len(prepared.train["labels"]), len(prepared.val["labels"])
    fmt = lambda values: ", ".join(f"{v:.3g}" for v in values)  # noqa: E731
    table = common.markdown_table(
        ["way", "what one epoch runs", "epoch times (s)", "s/epoch (steady)", "vs from images"],
        [
            [
                "from images (mode: end_to_end)",
                f"augmentation + frozen MobileNetV2 + head on {n_train} train, backbone + head on {n_val} val images",
                fmt(images_timer.seconds),
                f"{images_epoch:.3g}",
                "1x",
            ],
            [
                "on cached embeddings (mode: feature_extraction)",
                f"head on {n_train} + {n_val} {features['train']['images'].shape[1]}-d feature vectors",
                fmt(features_timer.seconds),
                f"{features_epoch:.3g}",
                f"**{speedup:.0f}x faster**",
            ],
            [
                "one-off: extract_features (train + val)",
                "frozen backbone once over every image, no augmentation",
                f"{extraction_s:.3g}",
                "",
                "",
            ],
        ],
    )
    break_even = extraction_s / max(images_epoch - features_epoch, 1e-9)
    notes = [
        f"Image size {args.image_size} px, batch size {args.batch_size}, {args.epochs} epoch(s) per way, weights "
        f"{args.weights}; head {model_settings.get('head')}, optimizer {settings.optimizer} at "
        f"{settings.learning_rate:g}. Steady = median of the epochs after the first (the first also traces).",
        f"Target >= 10x: {'met' if speedup >= 10 else 'NOT met'} ({speedup:.0f}x per epoch).",
        f"With the one-off extraction counted, cached embeddings are ahead from epoch {break_even:.2f} on; the price is "
        "that augmentation cannot apply to cached features.",
    ]
    markdown = common.section(
        "Feature-extraction mode: seconds per epoch of head training",
        table,
        machine,
        common.data_description(data_dir, prepared),
        notes,
    )
    common.emit(markdown, args.results, "feature-extraction")


if __name__ == "__main__":
    main()
