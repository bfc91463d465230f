"""Accuracy study on real data, repeated over stratified k-fold test splits: scratch vs transfer vs fine-tuning.

For each data set and each fold, one ``kedro run`` of every pipeline on a scratch copy of the project with
``split.cross_validation: {folds: k, fold: i}`` as a local parameter: fold ``i`` of ``k`` stratified folds is the test
split, the rest is split into train and validation as usual. Folds are disjoint, so the runs together test each image
at most once. Written into ``docs/results.md``:

* per model, the test accuracy of every fold (with the report's bootstrap 95% CI), their mean and spread;
* per model, the accuracy pooled over every tested image, with a bootstrap 95% CI;
* McNemar's test between the best model of each strategy on the pooled images (the folds' test images are disjoint,
  so the pairs are independent), and how many folds each strategy won.

    python benchmarks/accuracy_study.py                                  # both data sets, the defaults below
    python benchmarks/accuracy_study.py --datasets impressionists --run-folds 2
    python benchmarks/accuracy_study.py --datasets cats_dogs_tiny --models scratch.basenet transfer.mobilenet_v2
"""

from __future__ import annotations

import argparse
import pickle
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
import numpy as np
import pandas as pd
import scratch_project as sp
import yaml

common.setup_environment()
from image_classification.reporting.statistics import bootstrap_accuracy_ci, mcnemar_test  # noqa: E402

RESULTS = common.REPO_ROOT / "docs" / "results.md"


@dataclass(frozen=True)
class Dataset:
    path: Path
    labels_from: str
    folds: int
    run_folds: int
    about: str
    overrides: dict[str, Any] = field(default_factory=dict)


DATASETS = {
    # 20 folds give the project's 95/5 split; 3 of them fit the CPU budget (each trains every model on 1,900 images).
    "cats_vs_dogs_2k": Dataset(
        common.CATS_VS_DOGS, "filename", 20, 3,
        "1001 cats + 1001 dogs from Kaggle Dogs vs Cats (label = file-name prefix); fold i of 20 is the 5% test split",
        {
            "preprocess": {"image_size": 160},
            "scratch": {"models": {"basenet": {"input_size": None}, "cnn3_dropout": {"input_size": 96}}},
            "transfer": {"models": {"mobilenet_v1_075": {"enabled": False}}},
            "finetune": {"models": {"mobilenet_v1_075": {"enabled": False}}},
        },
    ),
    # 5 folds of 60 paintings: every painting is tested once.
    "impressionists": Dataset(
        common.IMPRESSIONISTS, "folder", 5, 5,
        "300 paintings, 30 by each of 10 impressionists, 512 px (label = artist folder; the set's own "
        "training/validation folders are pooled and re-split); fold i of 5 (60 paintings) is the test split",
    ),
    "cats_dogs_tiny": Dataset(
        common.SHARED_DIR / "datasets" / "cats_dogs_tiny", "folder", 4, 2, "20 cats + 20 dogs, for smoke tests only",
        {"preprocess": {"image_size": 64}, "training": {"epochs": 1}, "scratch": {"training": {"epochs": 1}},
         "transfer": {"training": {"epochs": 1}}, "finetune": {"training": {"epochs": 2}}},
    ),
}  # fmt: skip


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _deep_merge(merged[key], value) if isinstance(merged.get(key), dict) else value
    return merged


STRATEGIES = ("scratch", "transfer", "finetune")


def only_models(models: list[str] | None, dataset: Dataset) -> dict[str, Any]:
    """Overrides turning off every configured model not in ``models`` (``<strategy>.<name>``; None keeps all)."""
    if not models:
        return {}
    overrides: dict[str, Any] = {}
    for strategy in STRATEGIES:
        configured = {**common.project_parameters(strategy)["models"], **dataset.overrides.get(strategy, {}).get("models", {})}
        off = {name: {"enabled": False} for name in configured if f"{strategy}.{name}" not in models}
        if off:
            overrides[strategy] = {"models": off}
    return overrides


def fold_overrides(name: str, dataset: Dataset, fold: int, seed: int, models: list[str] | None = None) -> dict[str, Any]:
    """Local parameters of one fold's run: the data, the fold, the seed; the rest is the project's defaults."""
    return _deep_merge(_deep_merge(
        {
            "ingest": {
                "source": {"type": "folder", "name": name, "path": str(dataset.path)},
                "labels": common.labels_setting(dataset.path, dataset.labels_from),
            },
            "split": {"cross_validation": {"folds": dataset.folds, "fold": fold}, "seed": seed},
            "report": {"seed": seed},
        },
        dataset.overrides,
    ), only_models(models, dataset))


@dataclass
class FoldResult:
    fold: int
    comparison: pd.DataFrame
    correct: dict[str, np.ndarray]  # model namespace -> per test image, predicted right
    run_s: float
    counts: dict[str, int]


def _logged_seconds(log_file: Path) -> float:
    """Wall time of a finished run from the first and last HH:MM:SS stamps of its plain log (same day)."""
    stamps = re.findall(r"^(\d\d):(\d\d):(\d\d) ", log_file.read_text(), flags=re.M)
    seconds = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in stamps]
    return float(seconds[-1] - seconds[0]) if len(seconds) > 1 else float("nan")


def run_fold(name: str, dataset: Dataset, fold: int, args: argparse.Namespace, workroot: Path) -> FoldResult:
    project = workroot / f"{name}_fold{fold}"
    log_file = project / "kedro_run.log"
    finished = (project / "data/08_reporting/comparison.csv").is_dir()
    if args.reuse and finished:  # tables recomputed from a finished run, not trained again
        print(f"\n== {name} fold {fold + 1}/{dataset.folds}: reusing {project} ==", flush=True)  # noqa: T201
        run_s = _logged_seconds(log_file)
    else:
        overrides = fold_overrides(name, dataset, fold, args.seed, args.models)
        sp.make_project(project, overrides, plain_logging=True)
        print(f"\n== {name} fold {fold + 1}/{dataset.folds}: kedro run in {project} (log: {log_file}) ==", flush=True)  # noqa: T201
        started = time.perf_counter()
        sp.kedro_run(project, log_file=log_file, show=sp.progress_line)
        run_s = time.perf_counter() - started
    comparison = pd.read_csv(sp.latest_version(project, "data/08_reporting/comparison.csv"))
    correct = {}
    for model in comparison["model"]:
        strategy, model_name = model.split(".", 1)
        path = sp.latest_version(project, f"data/07_model_output/{strategy}/{model_name}/evaluation.pkl")
        evaluation = pickle.loads(path.read_bytes())
        correct[model] = np.asarray(evaluation["predictions"]) == np.asarray(evaluation["labels"])
    splits = pd.read_parquet(sp.latest_version(project, "data/03_primary/splits.parquet"))
    return FoldResult(fold, comparison, correct, run_s, splits["split"].value_counts().to_dict())


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def per_model_table(folds: list[FoldResult], seed: int) -> tuple[str, dict[str, np.ndarray]]:
    """Per model: each fold's accuracy (95% CI), mean and sd over folds, pooled accuracy with its CI."""
    models = list(folds[0].comparison.sort_values(["strategy", "model"])["model"])
    pooled = {model: np.concatenate([fold.correct[model] for fold in folds]) for model in models}
    rows = []
    for model in models:
        per_fold = [fold.comparison.set_index("model").loc[model] for fold in folds]
        accuracies = np.array([row.accuracy for row in per_fold])
        low, high = bootstrap_accuracy_ci(pooled[model], n_samples=2000, confidence=0.95, seed=seed)
        rows.append([
            f"`{model}`",
            " / ".join(f"{_pct(r.accuracy)} ({_pct(r.accuracy_ci_low)}-{_pct(r.accuracy_ci_high)})" for r in per_fold),
            f"**{_pct(accuracies.mean())}** ± {100 * accuracies.std(ddof=1) if len(folds) > 1 else 0:.1f}",
            f"{_pct(accuracies.min())} - {_pct(accuracies.max())}",
            f"{_pct(pooled[model].mean())} ({_pct(low)} - {_pct(high)}), n = {len(pooled[model])}",
            f"{np.mean([r.train_time_s for r in per_fold]):.0f}",
        ])  # fmt: skip
    table = common.markdown_table(
        ["model", "test accuracy per fold (95% CI)", "mean ± sd (points)", "min - max", "pooled (95% CI)",
         "mean train s"],
        rows,
    )  # fmt: skip
    return table, pooled


def strategy_table(folds: list[FoldResult], pooled: dict[str, np.ndarray]) -> tuple[str, list[str]]:
    """McNemar's test on the pooled test images between the best model (pooled accuracy) of each strategy, and
    between each fine-tuned model and the transfer model it started from."""
    best = {}
    for model, correct in pooled.items():
        strategy = model.split(".", 1)[0]
        if strategy not in best or correct.mean() > pooled[best[strategy]].mean():
            best[strategy] = model
    pairs = [(best[a], best[b]) for a, b in (("finetune", "transfer"), ("transfer", "scratch"), ("finetune", "scratch"))
             if a in best and b in best]  # fmt: skip
    # Fine-tuning starts from the transfer model of the same backbone: that pair isolates what fine-tuning adds.
    pairs += [
        (model, f"transfer.{model.split('.', 1)[1]}")
        for model in pooled
        if model.startswith("finetune.") and f"transfer.{model.split('.', 1)[1]}" in pooled
        and (model, f"transfer.{model.split('.', 1)[1]}") not in pairs
    ]
    rows, conclusions = [], []
    for model_a, model_b in pairs:
        a, b = model_a.split(".", 1)[0], model_b.split(".", 1)[0]
        test = mcnemar_test(pooled[model_a], pooled[model_b])
        won = sum(fold.correct[model_a].mean() > fold.correct[model_b].mean() for fold in folds)
        tied = sum(fold.correct[model_a].mean() == fold.correct[model_b].mean() for fold in folds)
        gain = pooled[model_a].mean() - pooled[model_b].mean()
        significant = test["p_value"] < 0.05
        rows.append([
            f"{a} vs {b}", f"`{model_a}` {_pct(pooled[model_a].mean())} vs `{model_b}` {_pct(pooled[model_b].mean())}",
            f"{100 * gain:+.1f}", f"{test['b']} / {test['c']}", f"{test['p_value']:.3g} ({test['method']})",
            "yes" if significant else "no", f"{won} won, {tied} tied, {len(folds) - won - tied} lost",
        ])  # fmt: skip
        verdict = "significantly better than" if significant and gain > 0 else (
            "significantly worse than" if significant else "not significantly different from")  # fmt: skip
        conclusions.append(
            f"{a} (`{model_a}`) is {verdict} {b} (`{model_b}`): {100 * gain:+.1f} points over "
            f"{len(pooled[model_a])} images, McNemar p = {test['p_value']:.3g}."
        )
    table = common.markdown_table(
        ["strategies", "best models, pooled accuracy", "gain (points)", "only A right / only B right",
         "p-value (McNemar, pooled)", "significant at 0.05", "folds (A vs B)"],
        rows,
    )  # fmt: skip
    return table, conclusions


def run_dataset(name: str, dataset: Dataset, args: argparse.Namespace, workroot: Path) -> str:
    """Every fold of ``dataset``; returns its results section."""
    common.require_dir(dataset.path, f"Data set '{name}'")
    machine = common.Machine()
    run_folds = args.run_folds or dataset.run_folds
    folds = [run_fold(name, dataset, fold, args, workroot) for fold in range(run_folds)]
    machine.finish()
    models_table, pooled = per_model_table(folds, args.seed)
    tests_table, conclusions = strategy_table(folds, pooled)
    body = "\n\n".join([
        models_table,
        "McNemar's test on all the test images of the folds together, between the best model of each strategy (chosen "
        "by pooled test accuracy, which flatters it a little) and between each fine-tuned model and its own transfer "
        "model:",
        tests_table,
    ])  # fmt: skip
    counts = folds[0].counts
    total_min = sum(fold.run_s for fold in folds) / 60
    notes = [
        f"{run_folds} of {dataset.folds} stratified folds (split.cross_validation), seed {args.seed} for the folds, "
        "the train/validation split, training and the bootstrap. Settings: the project's defaults (conf/base) plus "
        "the local parameters below.",
        f"`kedro run` wall time: {total_min:.1f} min for the {run_folds} folds (all pipelines, report included)."
        + (" Tables recomputed from the finished runs (`--reuse`): the machine line above is the recomputation's, "
           "the wall time the runs' own (from their logs)." if args.reuse else ""),
        "Per-fold 95% CI: the report's percentile bootstrap over that fold's test images. Pooled: the same over "
        "every tested image.",
        *conclusions,
    ]
    data = (
        f"`{sp_shown(dataset.path)}`: {dataset.about}. Per fold train/val/test "
        f"{counts.get('train', 0)}/{counts.get('val', 0)}/{counts.get('test', 0)}"
    )
    shown = yaml.safe_dump(fold_overrides(name, dataset, 0, args.seed, args.models), sort_keys=False)
    shown = shown.replace(str(dataset.path), sp_shown(dataset.path)).replace("fold: 0", "fold: 0 .. k-1")
    return common.section(f"Accuracy study: {name}", body, machine, data, notes) + (
        f"\n<details><summary>Local parameters of each run (conf/local/{sp.OVERRIDES_FILE})</summary>\n\n"
        f"```yaml\n{shown}```\n\n</details>\n"
    )


def sp_shown(path: Path) -> str:
    """``../shared/...`` for paths in the shared folder beside the project, else the path itself."""
    path = Path(path).resolve()
    parent = common.REPO_ROOT.parent
    return f"../{path.relative_to(parent)}" if path.is_relative_to(parent) else str(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=["impressionists", "cats_vs_dogs_2k"])
    parser.add_argument("--run-folds", type=int, default=None, help="folds to run per data set (default: its own)")
    parser.add_argument("--models", nargs="+", default=None, help="<strategy>.<name> to train (default: all)")
    parser.add_argument("--reuse", action="store_true", help="recompute the tables from finished runs in --workdir")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the scratch projects (default: temp)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file to update (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.reuse and not args.workdir:
        parser.error("--reuse needs the --workdir of the earlier study")
    workroot = args.workdir or Path(tempfile.mkdtemp(prefix="accuracy_study_"))
    started = time.perf_counter()
    for name in args.datasets:
        common.emit(run_dataset(name, DATASETS[name], args, workroot), args.results, f"accuracy-study-{name}")
    print(f"\nAccuracy study done in {(time.perf_counter() - started) / 60:.1f} min; projects in {workroot}.")  # noqa: T201


if __name__ == "__main__":
    main()
