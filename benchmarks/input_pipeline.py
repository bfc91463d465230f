"""Input pipeline: images/s to produce augmented training batches, our cache vs the seeds' per-image JPEG loading.

* **Baseline (the seeds' way)**: what Keras 2's ``ImageDataGenerator.flow_from_directory`` did, written out because
  Keras 3 no longer ships it: for every batch, every image is opened from its JPEG file with PIL, converted to RGB,
  resized, randomly flipped and given one random affine transform (rotation, zoom, shift, shear composed into one
  matrix) and a random contrast change, in a single Python thread. It uses PIL's C ``Image.transform`` for the affine
  step, which is faster than ``ImageDataGenerator``'s per-channel ``scipy.ndimage`` one, so the baseline is, if
  anything, flattered.
* **Ours**: what ``training.fit_model`` does per batch: ``batches.ArrayBatches`` slices the preprocessed uint8 cache
  (``build_image_arrays``) and casts the batch to float32 with one-hot labels, then the model's augmentation layers
  (``models.augmentation.build_augmentation``, keras.layers Random*) run on it compiled, as inside ``fit``.

Same training images, same image size, same batch size, same augmentation settings (the project's
``preprocess.augmentation`` with a horizontal flip), same process. The one-off cost of building the cache is
reported on its own row.

    python benchmarks/input_pipeline.py                      # cats_vs_dogs_2k, 160 px, batch 32, 2 epochs
    python benchmarks/input_pipeline.py --limit 40 --epochs 1 --data ../shared/datasets/cats_dogs_tiny
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import common
import numpy as np
from PIL import Image

common.setup_environment()


class JpegBatches:
    """BASELINE, not project code: ``ImageDataGenerator``-style batches decoded, resized and augmented per image.

    Args:
        paths: Image files.
        labels: Class index per file.
        num_classes: Length of the one-hot labels.
        batch_size: Images per batch.
        image_size: Side the images are resized to.
        augmentation: ``preprocess.augmentation``-style settings (flip, rotation, zoom, translation, shear, contrast).
        seed: Seed of the shuffling and the random transforms.
    """

    def __init__(
        self,
        paths: list[str],
        labels: np.ndarray,
        num_classes: int,
        batch_size: int,
        image_size: int,
        augmentation: dict[str, Any],
        seed: int = 0,
    ) -> None:
        self.paths, self.labels = list(paths), np.asarray(labels)
        self.num_classes, self.batch_size, self.size = num_classes, batch_size, image_size
        self.settings = {key: value or 0 for key, value in augmentation.items()}
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(self.paths))

    def __len__(self) -> int:
        return math.ceil(len(self.paths) / self.batch_size)

    def on_epoch_begin(self) -> None:
        self.order = self.rng.permutation(len(self.paths))

    def _affine(self) -> tuple[float, ...]:
        """One random rotation/zoom/shear/shift about the centre, as PIL's inverse-mapping coefficients."""
        s, rng = self.settings, self.rng
        angle = rng.uniform(-1, 1) * float(s["rotation"]) * 2 * math.pi
        zoom_x, zoom_y = 1 + rng.uniform(-1, 1, size=2) * float(s["zoom"])
        shear = rng.uniform(-1, 1) * float(s["shear"])
        shift_x, shift_y = rng.uniform(-1, 1, size=2) * float(s["translation"]) * self.size
        cos, sin = math.cos(angle), math.sin(angle)
        matrix = np.array([[cos, -sin + shear], [sin, cos]]) @ np.diag([zoom_x, zoom_y])
        centre = np.array([self.size / 2, self.size / 2])
        offset = centre - matrix @ centre + np.array([shift_x, shift_y])
        return (*matrix[0], offset[0], *matrix[1], offset[1])

    def _load(self, path: str) -> np.ndarray:
        with Image.open(path) as image:
            image = image.convert("RGB").resize((self.size, self.size), Image.Resampling.BILINEAR)
        if self.settings["flip"] and self.rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image = image.transform(image.size, Image.Transform.AFFINE, self._affine(), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32)
        if self.settings["contrast"]:
            factor = 1 + self.rng.uniform(-1, 1) * float(self.settings["contrast"])
            mean = pixels.mean(axis=(0, 1), keepdims=True)
            pixels = np.clip((pixels - mean) * factor + mean, 0, 255)
        return pixels

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images = np.stack([self._load(self.paths[row]) for row in rows])
        return images, np.eye(self.num_classes, dtype=np.float32)[self.labels[rows]]


def compiled_augmentation(settings: dict[str, Any], image_size: int, seed: int):
    """The project's augmentation layers, compiled and in training mode, as ``fit`` runs them inside the model."""
    import keras

    from image_classification.models.augmentation import build_augmentation

    class Augment(keras.layers.Layer):  # predict_on_batch would pass training=False; augmentation needs True
        def __init__(self, inner: keras.layers.Layer) -> None:
            super().__init__()
            self.inner = inner

        def call(self, images):
            return self.inner(images, training=True)

    inputs = keras.Input((image_size, image_size, 3), dtype="float32")
    model = keras.Model(inputs, Augment(build_augmentation(settings, seed=seed))(inputs))
    return model.predict_on_batch


def warm_up(batches: Any, transform=None) -> None:
    """Untimed: reads the files into the page cache / traces the compiled function for both batch shapes."""
    for index in {0, len(batches) - 1}:
        images, _ = batches[index]
        if transform is not None:
            np.asarray(transform(images))


def time_epoch(batches: Any, transform=None) -> tuple[float, int]:
    """Seconds and images to produce one shuffled pass of batches (each batch ready in memory as NumPy)."""
    produced = 0
    started = time.perf_counter()
    batches.on_epoch_begin()
    for index in range(len(batches)):
        images, labels = batches[index]
        if transform is not None:
            images = np.asarray(transform(images))
        produced += len(images)
    return time.perf_counter() - started, produced


def layer_breakdown(batches: Any, settings: dict[str, Any], image_size: int, seed: int) -> list[list[Any]]:
    """Images/s of each augmentation layer alone on the first batches, to show where our time goes."""
    rows = []
    for key, value in settings.items():
        if not value:
            continue
        transform = compiled_augmentation({key: value}, image_size, seed)
        warm_up(batches, transform)
        seconds, count = time_epoch(batches, transform)
        rows.append([key, value, f"{count / seconds:.0f}"])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=common.CATS_VS_DOGS, help="image folder (default: %(default)s)")
    parser.add_argument("--labels", choices=("auto", "folder", "filename"), default="auto")
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2, help="passes over the training split per way")
    parser.add_argument("--limit", type=int, default=None, help="use about this many images (quick runs)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--results", type=Path, default=None, help="also write the section into this Markdown file")
    args = parser.parse_args(argv)

    data_dir = common.require_dir(args.data, "Image folder")
    machine = common.Machine()
    print(f"Preparing {data_dir} through the project's ingest/split/preprocess nodes ...", flush=True)  # noqa: T201
    prepared = common.prepare_data(data_dir, args.image_size, labels_from=args.labels, limit=args.limit, seed=args.seed)
    train = prepared.train
    augmentation = common.benchmark_augmentation()
    num_classes = len(prepared.class_names)
    class_index = {name: index for index, name in enumerate(prepared.class_names)}

    from image_classification.batches import ArrayBatches

    baseline = JpegBatches(
        prepared.paths("train"),
        np.array([class_index[label] for label in prepared.labels("train")]),
        num_classes,
        args.batch_size,
        args.image_size,
        augmentation,
        seed=args.seed,
    )
    ours = ArrayBatches(train["images"], train["labels"], num_classes, args.batch_size, shuffle=True, seed=args.seed)
    augment = compiled_augmentation(augmentation, args.image_size, args.seed)
    ways = {"baseline": (baseline, None), "ours": (ours, augment), "cache only": (ours, None)}
    for batches, transform in ways.values():
        warm_up(batches, transform)
    print(f"Timing {args.epochs} epoch(s) of {len(baseline.paths)} training images per way ...", flush=True)  # noqa: T201
    # Rounds alternate the ways, so a change in the machine's load hits every way alike.
    timings = {name: [0.0, 0] for name in ways}
    for round_index in range(args.epochs):
        for name, (batches, transform) in ways.items():
            seconds, count = time_epoch(batches, transform)
            timings[name][0] += seconds
            timings[name][1] += count
            print(f"  epoch {round_index + 1}/{args.epochs} {name}: {count / seconds:.0f} images/s", flush=True)  # noqa: T201
    (baseline_s, baseline_n), (ours_s, ours_n), (cache_s, cache_n) = timings.values()
    breakdown = layer_breakdown(ours, augmentation, args.image_size, args.seed)
    machine.finish()

    baseline_rate, ours_rate = baseline_n / baseline_s, ours_n / ours_s
    total_images = len(prepared.splits)
    preprocess_rate = total_images / prepared.preprocess_s
    saved_per_epoch = len(baseline.paths) / baseline_rate - len(baseline.paths) / ours_rate
    train_share_s = prepared.preprocess_s * len(baseline.paths) / total_images
    table = common.markdown_table(
        ["way", "per batch", "images", "seconds", "images/s", "vs baseline"],
        [
            [
                "baseline: seeds' way (ImageDataGenerator-style)",
                "PIL open + RGB + resize + flip + affine + contrast per image, 1 Python thread",
                baseline_n,
                f"{baseline_s:.2f}",
                f"{baseline_rate:.0f}",
                "1.0x",
            ],
            [
                "ours: uint8 cache + augmentation layers",
                "ArrayBatches slice + float32 cast, build_augmentation layers compiled (training=True)",
                ours_n,
                f"{ours_s:.2f}",
                f"{ours_rate:.0f}",
                f"**{ours_rate / baseline_rate:.1f}x**",
            ],
            [
                "ours without augmentation (cache only)",
                "ArrayBatches slice + float32 cast + one-hot",
                cache_n,
                f"{cache_s:.2f}",
                f"{cache_n / cache_s:.0f}",
                f"{cache_n / cache_s / baseline_rate:.1f}x",
            ],
            [
                "one-off: build the cache (not per epoch)",
                "build_image_arrays: decode + resize every image once (all splits, its thread pool)",
                total_images,
                f"{prepared.preprocess_s:.2f}",
                f"{preprocess_rate:.0f}",
                "",
            ],
        ],
    )
    notes = [
        f"Image size {args.image_size} px, batch size {args.batch_size}, {args.epochs} epoch(s) over the "
        f"{len(baseline.paths)} training images per way, the ways taking turns epoch by epoch, after one untimed "
        "warm-up batch of each shape. Augmentation: "
        + ", ".join(f"{k}={v}" for k, v in augmentation.items() if v)
        + ". JPEG files are read from the OS page cache after the first pass (the data set is small).",
        f"Target >= 5x: {'met' if ours_rate / baseline_rate >= 5 else 'NOT met'} ({ours_rate / baseline_rate:.1f}x). "
        f"Without augmentation the cache gives {cache_n / cache_s / baseline_rate:.0f}x the baseline's rate, so our "
        "speed is set by the augmentation layers (per-layer table above). The baseline runs in one Python thread "
        "(as ImageDataGenerator with workers=1); the TensorFlow ops behind our layers may use every core.",
        f"The cache costs {train_share_s:.1f} s for the training images once; it saves {saved_per_epoch:.1f} s per epoch, "
        f"so it has paid for itself after {max(train_share_s / saved_per_epoch, 0):.2f} epochs"
        if saved_per_epoch > 0
        else "The cache saves no time per epoch on this run.",
    ]
    table += "\n\nOur augmentation, one layer at a time (one epoch each, same batches):\n\n" + common.markdown_table(
        ["layer", "setting", "images/s"], breakdown
    )
    markdown = common.section(
        "Input pipeline: augmented training batches per second",
        table,
        machine,
        common.data_description(data_dir, prepared),
        notes,
    )
    common.emit(markdown, args.results, "input-pipeline")


if __name__ == "__main__":
    main()
