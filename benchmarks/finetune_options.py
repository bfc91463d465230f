"""What each fine-tuning option does, judged on validation images only: one fold study per variant of the recipe.

Issue 21 asks what ``layer_decay`` (discriminative rates) and mixup / CutMix do on paintings and on cats vs dogs, and
that the recipe be chosen without the test folds. For each variant this runs the project's own ``kedro run
--pipelines study`` on a scratch copy (the pretrained models only: the variants change fine-tuning alone) and reads,
per fold and fine-tuned model, the training summary: the validation accuracy fine-tuning started from (its transfer
model's head refitted on the training split), after its first epoch and after its last. The variant with the highest
validation accuracy pooled over the folds' validation images is the one to keep; the test accuracy of a full study
is printed after it, for the record, and chooses nothing.

    python benchmarks/finetune_options.py                                        # paintings, 5 folds, every variant
    python benchmarks/finetune_options.py --datasets cats_vs_dogs_2k --only-folds 0 --models finetune.mobilenet_v2

``--only-folds`` runs the named folds' namespaces alone (``kedro run --namespaces fold_0``), with no pooled report.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import accuracy_study as study
import common
import pandas as pd
import scratch_project as sp

common.setup_environment()

PRETRAINED = ("mobilenet_v2", "mobilenet_v1_075")

# Each variant changes one thing of the default recipe (conf/base/parameters_finetune.yml).
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    # BEiT / ULMFiT-style: each backbone block below the top one trains at 0.7 x the rate of the block above it.
    "layer_decay_0.7": {"finetune": {"models": {name: {"layer_decay": 0.7} for name in PRETRAINED}}},
    # timm's ImageNet recipe: mixup 0.2 and CutMix 1.0, one of them drawn per batch.
    "mixup_cutmix": {"finetune": {"training": {"mixup_alpha": 0.2, "cutmix_alpha": 1.0}}},
    # The hint from a held-back set: a lower rate, label smoothing 0.1, a longer schedule.
    "low_rate_long": {"finetune": {"training": {"learning_rate": 3.0e-5, "label_smoothing": 0.1, "epochs": 14}}},
}

def _summary(project: Path, fold: int, strategy: str, model: str) -> dict[str, Any]:
    path = f"data/07_model_output/study/fold_{fold}/{strategy}/{model}/training_summary.json"
    return json.loads(sp.latest_version(project, path).read_text())


def validation_rows(project: Path, variant: str, folds: list[int], models: list[str]) -> list[dict[str, Any]]:
    """One row per fold and fine-tuned model: validation accuracy at the start, after epoch 1 and at the end."""
    rows = []
    for fold in folds:
        for model in models:
            summary = _summary(project, fold, "finetune", model)
            history = json.loads(
                sp.latest_version(project, f"data/07_model_output/study/fold_{fold}/finetune/{model}/history.json")
                .read_text()
            )  # fmt: skip
            rows.append({
                "variant": variant, "fold": fold, "model": f"finetune.{model}",
                "start": summary["start_validation_accuracy"], "first": history["val_accuracy"][0],
                "last": summary["validation_accuracy"], "epochs": len(history["val_accuracy"]),
            })  # fmt: skip
    return rows


def run_variant(name: str, dataset_name: str, args: argparse.Namespace, workroot: Path) -> tuple[Path, float]:
    """The study of one variant in its own scratch project; returns the project and its wall time in minutes."""
    dataset = study.DATASETS[dataset_name]
    overrides = study._deep_merge(
        study.study_overrides(dataset_name, dataset, args.seed, args.models), VARIANTS[name]
    )  # fmt: skip
    project = sp.make_project(workroot / dataset_name / name, overrides, plain_logging=True)
    log_file = project / "kedro_run.log"
    print(f"\n== {dataset_name} / {name}: {project} (log: {log_file}) ==", flush=True)  # noqa: T201
    started = time.perf_counter()
    if args.only_folds is None:
        sp.kedro_run(project, "--pipelines", "study", log_file=log_file, show=sp.progress_line)
    else:
        sp.kedro_run(project, "--pipelines", "study", "--to-outputs", study.SHARED_OUTPUTS, log_file=log_file)
        namespaces = ",".join(f"fold_{fold}" for fold in args.only_folds)
        sp.kedro_run(project, "--pipelines", "study", "--namespaces", namespaces, log_file=log_file,
                     show=sp.progress_line)  # fmt: skip
    return project, (time.perf_counter() - started) / 60


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def choice_table(rows: pd.DataFrame) -> str:
    """Per variant and model: the validation accuracy pooled over the folds (the choice), start and epoch 1."""
    table = []
    for (variant, model), group in rows.groupby(["variant", "model"], sort=False):
        table.append([
            variant, f"`{model}`", " / ".join(_pct(value) for value in group["last"]),
            f"**{_pct(group['last'].mean())}**", _pct(group["start"].mean()), _pct(group["first"].mean()),
            f"{100 * (group['first'] - group['start']).min():+.1f}",
        ])  # fmt: skip
    return common.markdown_table(
        ["variant", "model", "validation accuracy per fold (last epoch)", "mean", "mean start (head)",
         "mean after epoch 1", "worst epoch 1 - start (points)"],
        table,
    )  # fmt: skip


def test_table(projects: dict[str, Path]) -> str:
    """For the record, after the choice: each variant's pooled test accuracy of its fine-tuned models."""
    table = []
    for variant, project in projects.items():
        folds = pd.read_csv(sp.latest_version(project, "data/08_reporting/study/fold_table.csv"))
        tests = pd.read_csv(sp.latest_version(project, "data/08_reporting/study/tests.csv"))
        for row in folds[folds["model"].str.startswith("finetune.")].itertuples():
            pair = tests[(tests["comparison"] == "fine-tune vs transfer") & (tests["model_a"] == row.model)]
            versus = "" if pair.empty else (
                f"{100 * (pair.iloc[0].accuracy_a - pair.iloc[0].accuracy_b):+.1f} (p = {pair.iloc[0].p_value:.3g})"
            )  # fmt: skip
            table.append([variant, f"`{row.model}`", _pct(row.pooled_accuracy), versus])
    return common.markdown_table(
        ["variant", "model", "pooled test accuracy", "vs its transfer model (points, McNemar p)"], table
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=sorted(study.DATASETS), default=["impressionists"])
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--models", nargs="+", default=[f"{s}.{m}" for s in ("transfer", "finetune") for m in PRETRAINED],
                        help="<strategy>.<name> to train (default: the pretrained ones)")  # fmt: skip
    parser.add_argument("--only-folds", nargs="+", type=int, default=None, help="run these folds alone")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the scratch projects (default: temp)")
    parser.add_argument("--results", type=Path, default=study.RESULTS, help="Markdown file to update")
    args = parser.parse_args(argv)
    workroot = args.workdir or Path(tempfile.mkdtemp(prefix="finetune_options_"))
    finetuned = [model.split(".", 1)[1] for model in args.models if model.startswith("finetune.")]
    for dataset_name in args.datasets:
        machine = common.Machine()
        folds = args.only_folds or list(range(study.DATASETS[dataset_name].folds))
        rows, projects, minutes = [], {}, {}
        for variant in args.variants:  # the section is rewritten after each variant: a stopped sweep keeps its part
            projects[variant], minutes[variant] = run_variant(variant, dataset_name, args, workroot)
            rows += validation_rows(projects[variant], variant, folds, finetuned)
            machine.finish()
            section = sweep_section(dataset_name, pd.DataFrame(rows), projects, minutes, folds, args, machine)
            common.emit(section, args.results, f"finetune-options-{dataset_name}")


def sweep_section(
    dataset_name: str, table: pd.DataFrame, projects: dict[str, Path], minutes: dict[str, float], folds: list[int],
    args: argparse.Namespace, machine: common.Machine,
) -> str:
    """The Markdown section of one data set's sweep: the choice by validation, then the test figures."""
    pooled = table.groupby("variant", sort=False)["last"].mean()
    chosen = str(pooled.idxmax())
    body = [
        "Validation accuracy only (the choice): each fold's validation split, after fine-tuning's last epoch.",
        choice_table(table),
        f"Highest mean validation accuracy over the fine-tuned models: **{chosen}** ({_pct(pooled.max())}).",
    ]
    if args.only_folds is None:
        body += ["Pooled test accuracy, for the record (it chose nothing):", test_table(projects)]
    notes = [
        "Variants: " + "; ".join(f"{name} `{json.dumps(VARIANTS[name])}`" for name in projects),
        "Wall time per variant (min): " + ", ".join(f"{name} {value:.1f}" for name, value in minutes.items()),
        f"Folds run: {folds} of {study.DATASETS[dataset_name].folds}; projects in {args.workdir or 'a temporary folder'}.",
    ]
    data = f"{dataset_name}: {study.DATASETS[dataset_name].about}"
    return common.section(f"Fine-tuning options: {dataset_name}", "\n\n".join(body), machine, data, notes)

if __name__ == "__main__":
    main()
