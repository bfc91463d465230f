"""Larger than memory: peak memory and images/s of preprocess and one training epoch, streamed vs in memory.

Writes ``--images`` synthetic JPEG files (``--classes`` classes of random-but-structured pixels: a class's colour
gradient and stripe angle, a random bright square, noise; ``--size`` x 1.25 px, so resizing does real work) into a
scratch folder, then runs each phase in a fresh process and reads its peak resident memory (``VmHWM``):

1. **preprocess, streamed**: the preprocess node ``build_image_arrays`` (``ArrayChunks``) saved by the catalog's
   ``MemmapArraysDataset``: decoded, resized and written a chunk at a time.
2. **one epoch, memory-mapped**: the split loaded by ``MemmapArraysDataset`` (``np.memmap``) and one epoch of
   ``scratch.basenet`` (``input_size`` 32) through ``training.fit_model``: ``ArrayBatches`` reads each batch's rows.
3. **preprocess, in memory**: the way before, on ``--baseline-images``: every image of a split decoded into one
   array, ``np.savez`` into bytes, written (the old ``NumpyArraysDataset``).
4. **one epoch, in memory**: the ``.npz`` read into bytes, then parsed into arrays (the old load), same training.

"before" is the process's resident memory once the interpreter, TensorFlow, the project and (for training) the
compiled model are loaded, before any image; "peak - before" is what the data path added. Peak anonymous and
file-backed memory are sampled every 20 ms (memory-mapped pages are file-backed). The arrays are read back from the
page cache when memory allows (the files were just written): the epoch measures the data path, not the disk.

    python benchmarks/larger_than_memory.py --images 40000 --size 160      # ~3 GB split; minutes on 2 cores
    python benchmarks/larger_than_memory.py --images 400 --size 64 --baseline-images 200   # smoke test
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import common

common.setup_environment()

SPLITS = ("train", "val", "test")
LIMIT_BYTES = 1.5 * 2**30  # what the streamed phases may add to "before"
MARKER = "PHASE-RESULT "


# ---- memory of this process ----------------------------------------------------------------------------------------


def _status_kib(*keys: str) -> dict[str, int]:
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in keys:
            values[key] = int(rest.split()[0])
    return values


class MemorySampler:
    """Peak ``RssAnon`` and ``RssFile`` of this process, sampled every 20 ms in a thread."""

    def __init__(self) -> None:
        self.peak = {"RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for key, value in _status_kib("RssAnon", "RssFile").items():
                self.peak[key] = max(self.peak[key], value)

    def __enter__(self) -> MemorySampler:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from the current resident size
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# ---- phases (each in its own process) ------------------------------------------------------------------------------


def _manifest(workdir: Path, name: str):
    import pandas as pd

    return pd.read_csv(workdir / f"{name}.csv"), json.loads((workdir / "class_names.json").read_text())


def _preprocess(workdir: Path, size: int, streamed: bool) -> tuple[int, callable]:
    import io

    import numpy as np
    from kedro.io.core import Version

    from image_classification.datasets import MemmapArraysDataset
    from image_classification.pipelines.preprocess.nodes import build_image_arrays

    splits, class_names = _manifest(workdir, "streamed" if streamed else "in_memory")
    config = {**common.project_parameters("preprocess"), "image_size": size}

    def run() -> None:
        for split, bundle in zip(SPLITS, build_image_arrays(splits, class_names, config)):
            if streamed:
                MemmapArraysDataset(filepath=str(workdir / "memmap" / f"images_{split}"), version=Version(None, None)).save(
                    bundle
                )
                continue
            arrays, buffer = bundle.in_memory(), io.BytesIO()  # the old way: whole arrays, then .npz bytes
            arrays = {name: np.ascontiguousarray(array) for name, array in arrays.items()}
            np.savez(buffer, **arrays)
            (workdir / f"images_{split}.npz").write_bytes(buffer.getvalue())

    return len(splits), run


def _train(workdir: Path, size: int, streamed: bool, batch_size: int) -> tuple[int, callable]:
    import io

    import numpy as np
    from kedro.io.core import Version

    from image_classification.datasets import MemmapArraysDataset
    from image_classification.models.scratch import create_scratch_model
    from image_classification.training.fit import fit_model

    _, class_names = _manifest(workdir, "streamed")
    model = create_scratch_model("basenet", (size, size, 3), len(class_names), input_size=32, seed=0)
    settings = {"epochs": 1, "batch_size": batch_size, "verbose": 0, "early_stopping_patience": None,
                "reduce_lr_patience": None, "checkpoint_root": None}  # fmt: skip

    def load(split: str) -> dict:
        if streamed:
            folder = str(workdir / "memmap" / f"images_{split}")
            return MemmapArraysDataset(filepath=folder, version=Version(None, None)).load()
        with np.load(io.BytesIO((workdir / f"images_{split}.npz").read_bytes())) as arrays:  # the old load
            return {name: arrays[name] for name in arrays.files}

    measured = {}

    def run() -> None:
        started = time.perf_counter()
        train, val = load("train"), load("val")
        measured["load_s"] = time.perf_counter() - started
        measured["images"] = len(train["labels"])
        fit_model(model, train, val, settings, class_names=class_names)

    # Trace and compile on a few images first, so "before" includes the compiled model, not only its weights.
    tiny = {"images": np.zeros((batch_size, size, size, 3), np.uint8), "labels": np.arange(batch_size) % len(class_names)}
    fit_model(model, tiny, tiny, settings)
    return measured, run


def run_phase(args: argparse.Namespace) -> None:
    """Runs one phase and prints its measures as one JSON line."""
    streamed = args.phase.endswith("streamed")
    if args.phase.startswith("preprocess"):
        images, work = _preprocess(args.workdir, args.size, streamed)
    else:
        images, work = _train(args.workdir, args.size, streamed, args.batch_size)
    before = _status_kib("VmRSS")["VmRSS"] * 1024
    with MemorySampler() as sampler:
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
    peak = _status_kib("VmHWM")["VmHWM"] * 1024
    measured = {"images": images, "load_s": 0.0} if isinstance(images, int) else images  # training: set by its run
    result = {"phase": args.phase, **measured, "seconds": seconds, "before": before, "peak": peak,
              "anon": sampler.peak["RssAnon"] * 1024, "file": sampler.peak["RssFile"] * 1024}  # fmt: skip
    print(MARKER + json.dumps(result), flush=True)  # noqa: T201


# ---- the synthetic images ------------------------------------------------------------------------------------------


def _class_patterns(classes: int, side: int) -> list:
    """One uint8 pattern per class: its colour, shaded by stripes at its own angle and frequency."""
    import numpy as np

    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    patterns = []
    for label in range(classes):
        angle = np.pi * label / classes
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (4 + label % 3) * (x * np.cos(angle) + y * np.sin(angle)))
        hue = np.array([(label * 73) % 256, (label * 151) % 256, (label * 211) % 256], np.float32)
        patterns.append((hue * (0.4 + 0.6 * stripes[..., None])).astype(np.uint8))
    return patterns


def write_images(folder: Path, images: int, classes: int, side: int, seed: int) -> list[tuple[str, str]]:
    """``images`` JPEG files, one sub-folder per class; returns (path, label) rows, classes taking turns.

    Each image is its class's pattern, shifted at random, with noise (a random crop of one noise field) and a bright
    square at a random place: random pixels, learnable classes, and cheap enough for 40,000 files.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    patterns = _class_patterns(classes, side)
    noise = rng.integers(0, 48, (2 * side, 2 * side, 3), dtype=np.uint8)
    rows = [(str(folder / f"class_{i % classes:02d}" / f"{i:06d}.jpg"), f"class_{i % classes:02d}") for i in range(images)]
    for label in range(classes):
        (folder / f"class_{label:02d}").mkdir(parents=True, exist_ok=True)
    draws = rng.integers(0, side, (images, 5))

    def write(index: int) -> None:
        shift, noise_y, noise_x, top, left = draws[index]
        pixels = np.roll(patterns[index % classes], shift, axis=1)
        pixels = pixels + noise[noise_y : noise_y + side, noise_x : noise_x + side]  # wraps: more noise
        pixels[top * 3 // 4 : top * 3 // 4 + side // 4, left * 3 // 4 : left * 3 // 4 + side // 4] = 255
        Image.fromarray(pixels).save(rows[index][0], quality=90)

    with ThreadPoolExecutor(max_workers=4) as pool:  # Pillow encodes with the GIL released
        list(pool.map(write, range(images)))
    return rows


def _manifest_files(workdir: Path, rows: list[tuple[str, str]], baseline: int, classes: int) -> None:
    """The splits of both ways: 2% validation, 2% test (at least one image of each class), the rest training."""
    import pandas as pd

    for name, count in (("streamed", len(rows)), ("in_memory", max(baseline, 3 * classes))):
        frame = pd.DataFrame(rows[:count], columns=["path", "label"])
        held_out = max(classes, len(frame) // 50)
        frame["split"] = ["val"] * held_out + ["test"] * held_out + ["train"] * (len(frame) - 2 * held_out)
        frame.to_csv(workdir / f"{name}.csv", index=False)
    (workdir / "class_names.json").write_text(json.dumps(sorted({label for _, label in rows})))


# ---- the parent: data, phases, table -------------------------------------------------------------------------------


def _child(args: argparse.Namespace, phase: str) -> dict:
    command = [sys.executable, __file__, "--phase", phase, "--workdir", str(args.workdir), "--size", str(args.size),
               "--batch-size", str(args.batch_size)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"Phase {phase} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    result = json.loads(lines[-1][len(MARKER) :])
    said = f"  {phase}: {result['images']} images in {result['seconds']:.1f} s, peak {_gib(result['peak'])} GiB"
    print(said, flush=True)  # noqa: T201
    return result


def _gib(value: float) -> str:
    return f"{value / 2**30:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=40000, help="synthetic images (default: %(default)s)")
    parser.add_argument("--size", type=int, default=160, help="preprocessed side in px (default: %(default)s)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--baseline-images", type=int, default=8000, help="images of the in-memory phases")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a new one in /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the images and arrays (default: deleted)")
    parser.add_argument("--results", type=Path, default=None, help="also write the section into this Markdown file")
    parser.add_argument("--phase", default=None, help=argparse.SUPPRESS)  # internal: run one phase in this process
    args = parser.parse_args(argv)
    if args.phase:
        run_phase(args)
        return

    machine = common.Machine()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    args.workdir = Path(tempfile.mkdtemp(prefix="larger_than_memory_", dir=args.workdir))
    args.baseline_images = min(args.baseline_images, args.images)
    try:
        print(f"Writing {args.images} synthetic images to {args.workdir} (untimed) ...", flush=True)  # noqa: T201
        rows = write_images(args.workdir / "images", args.images, args.classes, args.size * 5 // 4, args.seed)
        _manifest_files(args.workdir, rows, args.baseline_images, args.classes)
        phases = [_child(args, phase) for phase in
                  ("preprocess-streamed", "train-streamed", "preprocess-in-memory", "train-in-memory")]  # fmt: skip
        split_bytes = sum(path.stat().st_size for path in (args.workdir / "memmap").rglob("images.npy"))
    finally:
        if not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    machine.finish()

    names = {"preprocess-streamed": "preprocess, streamed (`MemmapArraysDataset`)",
             "train-streamed": "one epoch, memory-mapped",
             "preprocess-in-memory": "preprocess, in memory (`.npz`, the old way)",
             "train-in-memory": "one epoch, in memory (`.npz`, the old way)"}  # fmt: skip
    table = common.markdown_table(
        ["phase", "images", "seconds (loading)", "images/s", "before (GiB)", "peak (GiB)", "peak - before (GiB)",
         "peak anon / file-backed (GiB)"],  # fmt: skip
        [[names[r["phase"]], r["images"], f"{r['seconds']:.1f} ({r['load_s']:.1f})",
          f"{r['images'] / (r['seconds'] - r['load_s']):.0f}", _gib(r["before"]), _gib(r["peak"]),
          _gib(r["peak"] - r["before"]), f"{_gib(r['anon'])} / {_gib(r['file'])}"] for r in phases],
    )  # fmt: skip
    streamed = [r for r in phases if r["phase"].endswith("streamed")]
    within = all(r["peak"] - r["before"] < LIMIT_BYTES for r in streamed)
    notes = [
        f"The streamed phases added at most {_gib(max(r['peak'] - r['before'] for r in streamed))} GiB to what the "
        f"interpreter, TensorFlow and the model hold: {'within' if within else '**over**'} the 1.5 GiB target, for "
        f"{split_bytes / 2**20:.0f} MiB of memory-mapped images.",
        "Images/s: images over the phase's seconds less its loading (an epoch's `fit` includes its 2% validation "
        "pass); basenet at input_size 32 (a Resizing layer first), no augmentation, so the data path weighs as much "
        "as it can. File-backed memory includes TensorFlow's shared libraries (about 0.4 GiB) and mapped pages.",
    ]
    data = (f"{args.images} synthetic JPEGs ({args.classes} classes, {args.size * 5 // 4} px) preprocessed to "
            f"{args.size} px; the in-memory phases on the first {args.baseline_images}")  # fmt: skip
    common.emit(common.section("Larger than memory", table, machine, data, notes), args.results, "larger-than-memory")


if __name__ == "__main__":
    main()
