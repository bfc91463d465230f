"""Accuracy study on real data: scratch vs transfer vs fine-tuning, test accuracy with 95% CI, into docs/results.md.

For each data set, one ``kedro run`` (every pipeline: ingest, split, preprocess, scratch, transfer, finetune, report)
on a scratch copy of the project, with the study's settings as local parameters; then the run's ``comparison.csv``
and ``strategy_tests.csv`` (the report pipeline's tables: bootstrap 95% CIs, McNemar's test between the best model
of each strategy) are written into ``docs/results.md`` with the command, machine, date and settings.

Models: ``scratch.basenet`` and ``scratch.cnn3_dropout`` (trained from scratch), ``transfer.mobilenet_v2`` (frozen
ImageNet MobileNetV2, head trained on cached features) and ``finetune.mobilenet_v2`` (that model with the top of the
backbone unfrozen at a low learning rate).

    python benchmarks/accuracy_study.py --seed 42            # both data sets, about 10 min on 2 idle cores
    python benchmarks/accuracy_study.py --datasets impressionists --seed 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
import pandas as pd
import scratch_project as sp
import yaml

common.setup_environment()
RESULTS = common.REPO_ROOT / "docs" / "results.md"
ALL_MODELS = ("scratch.basenet", "scratch.cnn3_dropout", "transfer.mobilenet_v2", "finetune.mobilenet_v2")


@dataclass(frozen=True)
class Dataset:
    path: Path
    labels_from: str
    test_fraction: float
    about: str


DATASETS = {
    "cats_vs_dogs_2k": Dataset(
        common.CATS_VS_DOGS,
        "filename",
        0.05,
        "1001 cats + 1001 dogs from Kaggle Dogs vs Cats (label = file-name prefix); the project's 95/5 split",
    ),
    "impressionists": Dataset(
        common.IMPRESSIONISTS,
        "folder",
        0.2,
        "300 paintings, 30 by each of 10 impressionists (label = artist folder; the set's own training/validation "
        "folders are pooled and re-split). split.test_fraction raised from 0.05 to 0.2: 0.05 would leave 15 test "
        "images, 1-2 per artist",
    ),
    "cats_dogs_tiny": Dataset(
        common.SHARED_DIR / "datasets" / "cats_dogs_tiny",
        "folder",
        0.2,
        "20 cats + 20 dogs, for smoke tests only",
    ),
}


def study_overrides(name: str, dataset: Dataset, args: argparse.Namespace) -> dict[str, Any]:
    """Local parameters of one data set's run: data, split, image size, epochs, seeds, and which models."""
    enabled = set(args.models)
    models = lambda strategy, settings: {  # noqa: E731
        model.split(".", 1)[1]: {**settings, **({} if model in enabled else {"enabled": False})}
        for model in ALL_MODELS
        if model.startswith(strategy + ".")
    }
    training = lambda epochs: {"epochs": epochs, "seed": args.seed, "verbose": 2}  # noqa: E731
    return {
        "ingest": {
            "source": {"type": "folder", "name": name, "path": str(dataset.path)},
            "labels": common.labels_setting(dataset.path, dataset.labels_from),
        },
        "split": {"test_fraction": dataset.test_fraction, "seed": args.seed},
        "preprocess": {"image_size": args.image_size, "augmentation": {"flip": "horizontal"}},
        "scratch": {"training": training(args.scratch_epochs), "models": models("scratch", {})},
        "transfer": {"training": training(args.transfer_epochs), "models": models("transfer", {"seed": args.seed})},
        "finetune": {"training": training(args.finetune_epochs), "models": models("finetune", {})},
        "report": {"seed": args.seed},
    }


def _shown_path(path: Path) -> str:
    """``../shared/...`` for paths in the shared folder beside the project, else the path itself."""
    path = Path(path).resolve()
    parent = common.REPO_ROOT.parent
    return f"../{path.relative_to(parent)}" if path.is_relative_to(parent) else str(path)


def _pct(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{100 * value:.1f}%"


def comparison_table(comparison: pd.DataFrame) -> str:
    rows = [
        [
            f"`{row.model}`",
            row.strategy,
            int(row.test_images),
            f"**{_pct(row.accuracy)}**",
            f"{_pct(row.accuracy_ci_low)} - {_pct(row.accuracy_ci_high)}",
            f"{row.macro_f1:.3f}",
            int(row.epochs_run),
            f"{row.train_time_s:.0f}",
            f"{int(row.trainable_params):,} / {int(row.total_params):,}",
            f"{row.inference_images_per_s:.0f}",
        ]
        for row in comparison.itertuples()
    ]
    return common.markdown_table(
        ["model", "strategy", "test images", "test accuracy", "95% CI", "macro-F1", "epochs run", "train s",
         "trainable / total params", "inference img/s"],
        rows,
    )  # fmt: skip


def strategy_tests_table(tests: pd.DataFrame) -> str:
    if tests.empty:
        return "(one strategy only: no McNemar test)"
    rows = [
        [
            f"{row.strategy_a} vs {row.strategy_b}",
            f"`{row.model_a}` {_pct(row.accuracy_a)} vs `{row.model_b}` {_pct(row.accuracy_b)}",
            f"{int(row.only_a_correct)} / {int(row.only_b_correct)}",
            f"{row.p_value:.3g} ({row.method})",
            "yes" if str(row.significant).lower() == "true" else "no",
        ]
        for row in tests.itertuples()
    ]
    return common.markdown_table(
        ["strategies", "best models, test accuracy", "only A right / only B right", "p-value (McNemar)",
         f"significant at alpha = {tests['alpha'].iloc[0]:g}"],
        rows,
    )  # fmt: skip


def run_dataset(name: str, dataset: Dataset, args: argparse.Namespace, workroot: Path) -> str:
    """One kedro run on ``dataset``; returns its results section."""
    common.require_dir(dataset.path, f"Data set '{name}'")
    machine = common.Machine()
    overrides = study_overrides(name, dataset, args)
    project = sp.make_project(workroot / name, overrides, plain_logging=True)
    log_file = project / "kedro_run.log"
    print(f"\n== {name}: kedro run in {project} (log: {log_file}) ==", flush=True)  # noqa: T201
    started = time.perf_counter()
    sp.kedro_run(project, log_file=log_file, show=sp.progress_line)
    run_s = time.perf_counter() - started
    machine.finish()

    comparison = pd.read_csv(sp.latest_version(project, "data/08_reporting/comparison.csv"))
    tests = pd.read_csv(sp.latest_version(project, "data/08_reporting/strategy_tests.csv"))
    splits = pd.read_parquet(sp.latest_version(project, "data/03_primary/splits.parquet"))
    counts = splits["split"].value_counts()
    body = "\n\n".join(
        [
            comparison_table(comparison),
            "McNemar's test between the best model of each strategy, on the same test images:",
            strategy_tests_table(tests),
        ]
    )
    notes = [
        f"Settings: image size {args.image_size} px, epochs scratch {args.scratch_epochs} / transfer (head on cached "
        f"features) {args.transfer_epochs} / finetune {args.finetune_epochs} (early stopping on val_loss, patience 5, "
        f"best epoch restored), seed {args.seed} for the split, training, augmentation and bootstrap; the project's "
        "other defaults (conf/base). The run's local parameters are below.",
        f"`kedro run` wall time: {run_s / 60:.1f} min (all pipelines, report included).",
        "95% CI: percentile bootstrap over the test images (report.bootstrap_samples resamples).",
        *[f"{conclusion}" for conclusion in tests.get("conclusion", pd.Series(dtype=str))],
    ]
    data = (
        f"`{_shown_path(dataset.path)}`: {dataset.about}. "
        f"{len(splits)} usable images, train/val/test {counts.get('train', 0)}/{counts.get('val', 0)}/"
        f"{counts.get('test', 0)}"
    )
    shown = yaml.safe_dump(overrides, sort_keys=False).replace(str(dataset.path), _shown_path(dataset.path))
    return common.section(f"Accuracy study: {name}", body, machine, data, notes) + (
        f"\n<details><summary>Local parameters of the run (conf/local/{sp.OVERRIDES_FILE})</summary>\n\n"
        f"```yaml\n{shown}```\n\n</details>\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=["cats_vs_dogs_2k", "impressionists"])
    parser.add_argument("--models", nargs="+", choices=ALL_MODELS, default=list(ALL_MODELS))
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--scratch-epochs", type=int, default=15)
    parser.add_argument("--transfer-epochs", type=int, default=10)
    parser.add_argument("--finetune-epochs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the scratch projects (default: temp)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file to update (default: %(default)s)")
    args = parser.parse_args(argv)
    if "finetune.mobilenet_v2" in args.models and "transfer.mobilenet_v2" not in args.models:
        parser.error("finetune.mobilenet_v2 starts from transfer.mobilenet_v2: keep both in --models.")

    workroot = args.workdir or Path(tempfile.mkdtemp(prefix="accuracy_study_"))
    started = time.perf_counter()
    for name in args.datasets:
        common.emit(run_dataset(name, DATASETS[name], args, workroot), args.results, f"accuracy-study-{name}")
    print(f"\nAccuracy study done in {(time.perf_counter() - started) / 60:.1f} min; projects in {workroot}.")  # noqa: T201


if __name__ == "__main__":
    main()
