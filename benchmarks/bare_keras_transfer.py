"""BASELINE for ``overhead.py``: the transfer pipeline's training as a bare Keras script, without Kedro, MLflow or
any project code.

It does what ``kedro run --pipelines=transfer`` does for ``transfer.mobilenet_v2`` in ``mode: feature_extraction``:
load the preprocessed uint8 arrays, build MobileNetV2 (no top, ImageNet weights from a file) with its
``preprocess_input`` and average pooling, run it once over train and validation images, train the head
(Dense 128 relu, dropout 0.3, softmax) on the features with Adam and balanced class weights, and save the whole
classifier as ``.keras`` plus its history as JSON. Phase times are printed as one JSON line.

    python benchmarks/bare_keras_transfer.py --train images_train --val images_val --weights W.h5 \
        --epochs 10 --batch-size 64 --out /tmp/bare

``--train`` / ``--val``: a saved version of the preprocess split (a folder with ``images.npy`` and ``labels.npy``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

started = time.perf_counter()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

imported = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--val", type=Path, required=True)
    parser.add_argument("--weights", type=Path, required=True, help="MobileNetV2 no-top weights file")
    parser.add_argument("--num-classes", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--dense-units", type=int, nargs="*", default=[], help="hidden layer sizes (none: linear)")
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, required=True, help="folder for model.keras and history.json")
    args = parser.parse_args()
    phases = {"start_and_import_s": imported - started}

    clock = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    x_train, y_train, x_val, y_val = (np.load(split / f"{name}.npy") for split in (args.train, args.val)
                                      for name in ("images", "labels"))  # fmt: skip
    size = x_train.shape[1]
    backbone = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(size, size, 3))
    backbone.load_weights(str(args.weights))
    backbone.trainable = False
    inputs = keras.Input((size, size, 3))
    features = keras.layers.GlobalAveragePooling2D()(
        backbone(keras.applications.mobilenet_v2.preprocess_input(inputs), training=False)
    )
    hidden = [
        layer for units in args.dense_units
        for layer in (keras.layers.Dense(units, activation="relu"), keras.layers.Dropout(args.dropout))
    ]  # fmt: skip
    head = keras.Sequential(
        [
            keras.Input((features.shape[-1],)),
            *(hidden or [keras.layers.Dropout(args.dropout)]),  # as the project's build_head
            keras.layers.Dense(args.num_classes, activation="softmax"),
        ]
    )
    classifier = keras.Model(inputs, head(features))
    extractor = keras.Model(inputs, features)
    phases["load_and_build_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    f_train = extractor.predict(x_train.astype("float32"), batch_size=args.batch_size, verbose=0)
    f_val = extractor.predict(x_val.astype("float32"), batch_size=args.batch_size, verbose=0)
    phases["extract_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    one_hot = np.eye(args.num_classes, dtype="float32")
    counts = np.bincount(y_train, minlength=args.num_classes)
    class_weight = {c: len(y_train) / (np.count_nonzero(counts) * n) for c, n in enumerate(counts) if n}
    head.compile(keras.optimizers.Adam(args.learning_rate), "categorical_crossentropy", metrics=["accuracy"])
    history = head.fit(
        f_train,
        one_hot[y_train],
        validation_data=(f_val, one_hot[y_val]),
        epochs=args.epochs,
        batch_size=args.batch_size,
        class_weight=class_weight,
        callbacks=[keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2)],
        verbose=0,
    )
    phases["train_head_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    classifier.compile(keras.optimizers.Adam(args.learning_rate), "categorical_crossentropy", metrics=["accuracy"])
    classifier.save(args.out / "model.keras")
    (args.out / "history.json").write_text(
        json.dumps({k: [float(v) for v in values] for k, values in history.history.items()})
    )
    phases["save_s"] = time.perf_counter() - clock
    phases["epochs_run"] = len(history.history["loss"])
    print("BARE_PHASES " + json.dumps(phases), flush=True)  # noqa: T201


if __name__ == "__main__":
    main()
