"""The fold study on real data sets, by the project's own ``kedro run --pipelines study``, into docs/results.md.

A thin caller: for each data set it makes a scratch copy of the project whose local parameters point ingest at the
data (and set its image size and folds), runs ``kedro run --pipelines study`` once (every fold in one run: images
decoded once, each fold a namespace, one pooled report), and copies the study's own tables into ``docs/results.md``:
per model each fold's accuracy, mean ± sd, the accuracy pooled over every tested image with its bootstrap CI, and
McNemar's tests on the pooled images (strategies, fine-tune vs its transfer model, head vs its linear probe).

    python benchmarks/accuracy_study.py                                  # the bundled paintings, 5 folds
    python benchmarks/accuracy_study.py --datasets cats_vs_dogs_2k       # ../shared, 5 folds at 160 px
    python benchmarks/accuracy_study.py --datasets cats_dogs_tiny --models scratch.basenet transfer.mobilenet_v2
    python benchmarks/accuracy_study.py --datasets cats_vs_dogs_2k --models scratch.basenet --only-folds 0

``--only-folds`` runs the named folds' namespaces alone (``kedro run --namespaces fold_0``), for a data set too long to
run whole: it prints each model's test accuracy on those folds and writes no pooled report.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
import pandas as pd
import scratch_project as sp
import yaml

common.setup_environment()

RESULTS = common.REPO_ROOT / "docs" / "results.md"


@dataclass(frozen=True)
class Dataset:
    path: Path | None  # None: the bundled paintings (ingest's default source)
    labels_from: str
    folds: int
    about: str
    overrides: dict[str, Any] = field(default_factory=dict)


DATASETS = {
    # The default source: 300 paintings (256 px) at the default 224 px, every model of conf/base.
    "impressionists": Dataset(
        None, "folder", 5,
        "the 300 bundled paintings, 30 by each of 10 impressionists, 256 px (the default source); fold i of 5 "
        "(60 paintings) is the test split",
    ),
    "cats_vs_dogs_2k": Dataset(
        common.CATS_VS_DOGS, "filename", 5,
        "1001 cats + 1001 dogs from Kaggle Dogs vs Cats (label = file-name prefix); fold i of 5 is the test split",
        {
            "preprocess": {"image_size": 160},
            "scratch": {"models": {"basenet": {"input_size": None}, "cnn3_dropout": {"input_size": 96}}},
        },
    ),
    "cats_dogs_tiny": Dataset(
        common.SHARED_DIR / "datasets" / "cats_dogs_tiny", "folder", 2, "20 cats + 20 dogs, for smoke tests only",
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


def study_overrides(name: str, dataset: Dataset, seed: int, models: list[str] | None = None) -> dict[str, Any]:
    """Local parameters of the study's run: the data, the folds, the seed; the rest is the project's defaults."""
    source = {} if dataset.path is None else {
        "ingest": {
            "source": {"type": "folder", "name": name, "path": str(dataset.path)},
            "labels": common.labels_setting(dataset.path, dataset.labels_from),
        }
    }  # fmt: skip
    study = {"study": {"folds": dataset.folds, "seed": seed}, "report": {"seed": seed}}
    return _deep_merge(_deep_merge(_deep_merge(source, study), dataset.overrides), only_models(models, dataset))


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def study_tables(project: Path) -> tuple[str, str, pd.DataFrame]:
    """The study's fold table and McNemar's tests, as Markdown, from its saved CSVs."""
    folds = pd.read_csv(sp.latest_version(project, "data/08_reporting/study/fold_table.csv"))
    tests = pd.read_csv(sp.latest_version(project, "data/08_reporting/study/tests.csv"))
    fold_rows = [
        [
            f"`{row.model}`",
            " / ".join(_pct(float(value)) for value in str(row.fold_accuracies).split()),
            f"**{_pct(row.mean_accuracy)}** ± {100 * (0 if pd.isna(row.sd_accuracy) else row.sd_accuracy):.1f}",
            _pct(row.min_accuracy),
            f"{_pct(row.pooled_accuracy)} ({_pct(row.pooled_ci_low)} - {_pct(row.pooled_ci_high)}), n = {row.pooled_images}",
            "—" if pd.isna(row.mean_validation_accuracy) else _pct(row.mean_validation_accuracy),
        ]
        for row in folds.itertuples()
    ]  # fmt: skip
    fold_table = common.markdown_table(
        ["model", "test accuracy per fold", "mean ± sd (points)", "lowest fold", "pooled (95% CI)",
         "mean validation accuracy"],
        fold_rows,
    )  # fmt: skip
    test_rows = [
        [row.comparison, f"`{row.model_a}` {_pct(row.accuracy_a)} vs `{row.model_b}` {_pct(row.accuracy_b)}",
         f"{100 * (row.accuracy_a - row.accuracy_b):+.1f}", f"{row.only_a_correct} / {row.only_b_correct}",
         f"{row.p_value:.3g} ({row.method})", "yes" if row.significant else "no"]
        for row in tests.itertuples()
    ]  # fmt: skip
    tests_table = common.markdown_table(
        ["pair", "models, pooled accuracy", "A - B (points)", "only A right / only B right", "p-value (McNemar)",
         "significant at 0.05"],
        test_rows,
    ) if test_rows else ""  # fmt: skip
    return fold_table, tests_table, folds


SHARED_OUTPUTS = "study_images,study_folds,study_class_names"


def fold_table(project: Path, folds: list[int]) -> str:
    """Each model's test accuracy on each of ``folds``, from the folds' saved evaluations (no pooling)."""
    import pickle  # noqa: PLC0415 - the catalog's pickles of this project's own run

    rows = []
    for fold in folds:
        root = project / "data" / "07_model_output" / "study" / f"fold_{fold}"
        for evaluation in sorted(root.glob("*/*/evaluation.pkl")):
            metrics = pickle.loads(sp.latest_version(project, str(evaluation.relative_to(project))).read_bytes())["metrics"]  # noqa: S301
            low, high = metrics["accuracy_ci_low"], metrics["accuracy_ci_high"]
            model = f"{evaluation.parent.parent.name}.{evaluation.parent.name}"
            rows.append([fold, f"`{model}`", f"**{_pct(metrics['accuracy'])}** ({_pct(low)} - {_pct(high)})",
                         metrics["test_images"]])  # fmt: skip
    return common.markdown_table(["fold", "model", "test accuracy (95% CI)", "test images"], rows)


def _new_project(name: str, dataset: Dataset, args: argparse.Namespace, workroot: Path) -> tuple[Path, Path]:
    """The scratch copy of the project for ``dataset`` (its data checked first) and its log file."""
    if dataset.path is not None:
        common.require_dir(dataset.path, f"Data set '{name}'")
    project = workroot / name
    sp.make_project(project, study_overrides(name, dataset, args.seed, args.models), plain_logging=True)
    return project, project / "kedro_run.log"


def run_folds(name: str, dataset: Dataset, args: argparse.Namespace, workroot: Path) -> str:
    """Only ``args.only_folds`` of the study of ``dataset``: the shared steps, then those folds' namespaces."""
    machine = common.Machine()
    project, log_file = _new_project(name, dataset, args, workroot)
    print(f"\n== {name}: folds {args.only_folds} in {project} (log: {log_file}) ==", flush=True)  # noqa: T201
    started = time.perf_counter()
    sp.kedro_run(project, "--pipelines", "study", "--to-outputs", SHARED_OUTPUTS, log_file=log_file)
    namespaces = ",".join(f"fold_{fold}" for fold in args.only_folds)
    sp.kedro_run(project, "--pipelines", "study", "--namespaces", namespaces, log_file=log_file, show=sp.progress_line)
    run_min = (time.perf_counter() - started) / 60
    machine.finish()
    notes = [
        f"`kedro run --pipelines study --namespaces {namespaces}` after the shared steps, seed {args.seed}: "
        f"{run_min:.1f} min wall time; folds {args.only_folds} of {dataset.folds} only, so nothing is pooled.",
    ]
    where = "the bundled paintings" if dataset.path is None else f"`{sp_shown(dataset.path)}`"
    return common.section(f"Fold study, folds {args.only_folds}: {name}", fold_table(project, args.only_folds),
                          machine, f"{where}: {dataset.about}", notes)  # fmt: skip


def run_dataset(name: str, dataset: Dataset, args: argparse.Namespace, workroot: Path) -> str:
    """The study of ``dataset`` in one ``kedro run --pipelines study``; returns its results section."""
    machine = common.Machine()
    project, log_file = _new_project(name, dataset, args, workroot)
    overrides = study_overrides(name, dataset, args.seed, args.models)
    print(f"\n== {name}: kedro run --pipelines study in {project} (log: {log_file}) ==", flush=True)  # noqa: T201
    started = time.perf_counter()
    sp.kedro_run(project, "--pipelines", "study", log_file=log_file, show=sp.progress_line)
    run_min = (time.perf_counter() - started) / 60
    machine.finish()
    fold_table, tests_table, folds = study_tables(project)
    tests_part = [
        "McNemar's test on every tested image (the folds pooled): the best model of each strategy (chosen by mean "
        "validation accuracy over the folds, never by a test score), each fine-tuned model against the transfer model "
        "it started from, and each transfer head against the linear probe of its backbone:",
        tests_table,
    ] if tests_table else ["No McNemar pairs: the run trained models of one strategy only."]  # fmt: skip
    body = "\n\n".join([fold_table, *tests_part])
    notes = [
        f"`kedro run --pipelines study`, {dataset.folds} stratified folds, seed {args.seed}: {run_min:.1f} min wall "
        "time for the whole run (ingest, decoding once, every fold's training and evaluation, the pooled report).",
        "Settings: the project's defaults (conf/base) plus the local parameters below.",
    ]
    where = "the bundled paintings" if dataset.path is None else f"`{sp_shown(dataset.path)}`"
    data = f"{where}: {dataset.about}; {int(folds['pooled_images'].iloc[0])} images tested, each once"
    shown = yaml.safe_dump(overrides, sort_keys=False)
    if dataset.path is not None:
        shown = shown.replace(str(dataset.path), sp_shown(dataset.path))
    return common.section(f"Fold study: {name}", body, machine, data, notes) + (
        f"\n<details><summary>Local parameters of the run (conf/local/{sp.OVERRIDES_FILE})</summary>\n\n"
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
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=["impressionists"])
    parser.add_argument("--models", nargs="+", default=None, help="<strategy>.<name> to train (default: all)")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the scratch projects (default: temp)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file to update (default: %(default)s)")
    parser.add_argument("--only-folds", nargs="+", type=int, default=None, help="run these folds alone, unpooled")
    args = parser.parse_args(argv)
    workroot = args.workdir or Path(tempfile.mkdtemp(prefix="accuracy_study_"))
    started = time.perf_counter()
    for name in args.datasets:
        if args.only_folds is None:
            common.emit(run_dataset(name, DATASETS[name], args, workroot), args.results, f"fold-study-{name}")
        else:
            folds = "-".join(str(fold) for fold in args.only_folds)
            common.emit(run_folds(name, DATASETS[name], args, workroot), args.results, f"folds-{folds}-{name}")
    print(f"\nFold study done in {(time.perf_counter() - started) / 60:.1f} min; projects in {workroot}.")  # noqa: T201


if __name__ == "__main__":
    main()
