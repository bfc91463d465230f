"""What every benchmark shares: where the data is, which machine ran it, and how its table is printed and recorded.

Import this before Keras: ``setup_environment`` sets ``KERAS_HOME`` and quiet logs, which Keras reads on import.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("IMAGE_CLASSIFICATION_SHARED", REPO_ROOT.parent / "shared"))
CATS_VS_DOGS = SHARED_DIR / "datasets" / "cats_vs_dogs_2k"
IMPRESSIONISTS = SHARED_DIR / "datasets" / "impressionists_512px"
KERAS_HOME = SHARED_DIR / "keras"
PACKAGES = ("tensorflow-cpu", "jax", "keras", "numpy", "pillow", "kedro", "kedro-mlflow", "mlflow")
LOADED_ABOVE = 1.5  # load average (1 min) above which figures are marked as taken under load (fallback)
OTHERS_LOADED_ABOVE = 0.3  # average cores used by other processes above which figures are marked as under load

if str(REPO_ROOT / "src") not in sys.path:  # the project package, without installing it
    sys.path.insert(0, str(REPO_ROOT / "src"))


def setup_environment(keras_home: Path = KERAS_HOME) -> None:
    """Quiet TensorFlow/Kedro and point Keras at the shared ImageNet weights (unless the caller set KERAS_HOME)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    if keras_home.is_dir():
        os.environ.setdefault("KERAS_HOME", str(keras_home))


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a folder; otherwise exits with a message saying what is missing and how to fix it."""
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise SystemExit(
            f"{what} not found at '{path}'. Put the shared folder beside the project ({SHARED_DIR}), set "
            "IMAGE_CLASSIFICATION_SHARED to its path, or pass the folder on the command line (see --help)."
        )
    return path


def labels_setting(data_dir: Path, labels_from: str = "auto") -> dict[str, Any]:
    """``ingest.labels`` for a data set: folder names when the images sit in sub-folders, else the file-name prefix."""
    if labels_from == "auto":
        has_subfolders = any(child.is_dir() for child in data_dir.iterdir())
        labels_from = "folder" if has_subfolders else "filename"
    return {"from": labels_from, "pattern": r"^(?P<label>[^.]+)\."}


def project_parameters(key: str) -> dict[str, Any]:
    """One top-level key of the project's ``conf/base/parameters_<key>.yml``, so benchmarks use its defaults."""
    import yaml

    return yaml.safe_load((REPO_ROOT / "conf" / "base" / f"parameters_{key}.yml").read_text())[key]


def benchmark_augmentation() -> dict[str, Any]:
    """The project's augmentation settings, with the horizontal flip that photos and paintings get."""
    return {**project_parameters("preprocess")["augmentation"], "flip": "horizontal"}


# ---- machine -------------------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return float("nan")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def busy_cpu_seconds() -> float | None:
    """CPU seconds all processes have spent busy since boot (``/proc/stat``), or None off Linux."""
    try:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds used by this process and its finished child processes (kedro runs, the bare script)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class Machine:
    """The machine a benchmark ran on, with the load average when it started and (after ``finish``) ended."""

    cpu: str = field(default_factory=_cpu_model)
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    usable_cores: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))
    ram_gib: float = field(default_factory=_ram_gib)
    started: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    load_start: tuple[float, float, float] = field(default_factory=load_average)
    load_end: tuple[float, float, float] | None = None
    _clock: float = field(default_factory=time.perf_counter)
    _busy: float | None = field(default_factory=busy_cpu_seconds)
    _own: float = field(default_factory=own_cpu_seconds)
    wall_s: float | None = None
    others_cores: float | None = None  # average cores other processes kept busy during the run

    def finish(self) -> Machine:
        self.load_end = load_average()
        self.wall_s = time.perf_counter() - self._clock
        busy = busy_cpu_seconds()
        if busy is not None and self._busy is not None and self.wall_s > 0:
            others = (busy - self._busy) - (own_cpu_seconds() - self._own)
            self.others_cores = max(others, 0.0) / self.wall_s
        return self

    @property
    def under_load(self) -> bool:
        """Other processes took a noticeable share of the CPU (or, without that measure, the load was high)."""
        if self.others_cores is not None:
            return self.others_cores > OTHERS_LOADED_ABOVE
        return self.load_start[0] > LOADED_ABOVE

    def describe(self) -> str:
        """Markdown lines naming the machine, date, load and package versions."""
        load = lambda values: "/".join(f"{v:.2f}" for v in values)  # noqa: E731
        versions = ", ".join(f"{p} {v}" for p in PACKAGES if (v := _version(p)))
        lines = [
            f"- Machine: {self.cpu}, {self.cores} logical cores ({self.usable_cores} usable), "
            f"{self.ram_gib:.0f} GiB RAM, {platform.system()} {platform.release()}, no GPU used",
            f"- Date: {self.started}" + (f"; wall time {self.wall_s:.0f} s" if self.wall_s is not None else ""),
            f"- Load average (1/5/15 min): {load(self.load_start)} at start"
            + (f", {load(self.load_end)} at end (this includes the benchmark's own work)" if self.load_end else "")
            + (
                f"; other processes kept {self.others_cores:.2f} of the {self.cores} cores busy on average during the run"
                if self.others_cores is not None
                else ""
            ),
            f"- Python {platform.python_version()}, Keras backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}; {versions}",
        ]
        if self.under_load:
            lines.append(
                f"- **Taken under load**: other processes shared the {self.cores} cores, so absolute times are "
                "pessimistic and ratios noisy; re-run on a quiet machine."
            )
        return "\n".join(lines)


# ---- tables and results ----------------------------------------------------------------------------------------


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table; floats are shown as given (format them before)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def command_line() -> str:
    """The command that ran this script, as a user would type it from the repository root."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(REPO_ROOT) if script.is_relative_to(REPO_ROOT) else script
    return " ".join(["python", str(shown), *sys.argv[1:]])


def section(title: str, body: str, machine: Machine, data: str, notes: list[str] = ()) -> str:
    """A results section: title, command, data, machine, the table(s), then notes."""
    parts = [
        f"### {title}",
        "",
        f"- Command: `{command_line()}`",
        f"- Data: {data}",
        machine.describe(),
        "",
        body,
    ]
    if notes:
        parts += ["", *[f"- {note}" for note in notes]]
    return "\n".join(parts) + "\n"


def update_results(path: Path, key: str, markdown: str) -> None:
    """Puts ``markdown`` between the ``<!-- key:start -->`` / ``<!-- key:end -->`` markers of ``path``.

    The markers are appended (file created) when absent, so each script owns one section and re-running it replaces
    only that section.
    """
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def emit(markdown: str, results: Path | None, key: str) -> None:
    """Prints a section and, with ``results``, writes it into that file."""
    print("\n" + markdown, flush=True)  # noqa: T201 - a benchmark's output is its table
    if results is not None:
        update_results(results, key, markdown)
        print(f"(written to {results}, section '{key}')", flush=True)  # noqa: T201


# ---- data through the project's own nodes -------------------------------------------------------------------------


@dataclass
class PreparedData:
    """Train/val/test rows and uint8 arrays built by the project's ingest, split and preprocess nodes."""

    splits: Any  # pandas DataFrame with path, label, split
    class_names: list[str]
    train: dict
    val: dict
    test: dict
    preprocess_s: float
    seed: int

    def paths(self, split: str) -> list[str]:
        return self.splits.loc[self.splits["split"] == split, "path"].tolist()

    def labels(self, split: str) -> list[str]:
        return self.splits.loc[self.splits["split"] == split, "label"].tolist()


def prepare_data(
    data_dir: Path, image_size: int, *, labels_from: str = "auto", limit: int | None = None, seed: int = 42
) -> PreparedData:
    """Manifest, stratified split and uint8 arrays of ``data_dir`` through the project's nodes (not timed by callers,
    except ``preprocess_s``: the one-off decode-and-resize of ``build_image_arrays``).

    ``limit`` keeps about that many images, the same number per class, before splitting (for quick runs).
    """
    import logging

    from image_classification.pipelines.ingest.nodes import build_manifest
    from image_classification.pipelines.preprocess.nodes import build_image_arrays
    from image_classification.pipelines.split.nodes import split_dataset

    logging.getLogger("image_classification").setLevel(logging.WARNING)
    manifest, _ = build_manifest(str(data_dir), labels_setting(data_dir, labels_from), {})
    if limit:
        per_class = max(3, limit // manifest["label"].nunique())
        manifest = manifest.groupby("label", sort=True).head(per_class).reset_index(drop=True)
    split_config = {**project_parameters("split"), "seed": seed}
    splits, class_names = split_dataset(manifest, split_config)
    preprocess = {**project_parameters("preprocess"), "image_size": image_size}
    started = time.perf_counter()
    train, val, test = (bundle.in_memory() for bundle in build_image_arrays(splits, class_names, preprocess))
    return PreparedData(splits, class_names, train, val, test, time.perf_counter() - started, seed)


def data_description(data_dir: Path, prepared: PreparedData | None = None) -> str:
    """``<folder> (N images, C classes; train/val/test a/b/c)`` for the results."""
    shown = data_dir.relative_to(REPO_ROOT.parent) if data_dir.is_relative_to(REPO_ROOT.parent) else data_dir
    if prepared is None:
        return f"`../{shown}`"
    counts = prepared.splits["split"].value_counts()
    return (
        f"`../{shown}` ({len(prepared.splits)} images, {len(prepared.class_names)} classes; "
        f"train/val/test {counts.get('train', 0)}/{counts.get('val', 0)}/{counts.get('test', 0)}, "
        f"project's stratified split, seed {prepared.seed})"
    )


def epoch_timer():
    """A Keras callback that records the wall seconds of every epoch (``.seconds``), validation included."""
    import keras

    class EpochTimes(keras.callbacks.Callback):
        """Wall seconds of every epoch, validation included."""

        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._started)

    return EpochTimes()
