"""The accuracy study's Markdown tables, from the CSVs a study run saves (no `kedro run` here)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
FOLD_TABLE = (
    "model,strategy,folds,fold_accuracies,mean_accuracy,sd_accuracy,min_accuracy,pooled_images,pooled_accuracy,"
    "pooled_ci_low,pooled_ci_high,mean_validation_accuracy\n"
    "scratch.basenet,scratch,2,0.75 0.77,0.76,0.01,0.75,40,0.76,0.70,0.82,0.74\n"
)
TESTS_HEADER = (
    "comparison,strategy_a,model_a,accuracy_a,strategy_b,model_b,accuracy_b,only_a_correct,only_b_correct,statistic,"
    "p_value,method,alpha,significant,conclusion\n"
)


@pytest.fixture(scope="module")
def study():
    sys.path.insert(0, str(BENCHMARKS))  # the script imports its siblings `common` and `scratch_project`
    environment = dict(os.environ)  # importing it sets KERAS_HOME and quiets TensorFlow: not for the other tests
    try:
        spec = importlib.util.spec_from_file_location("accuracy_study_benchmark", BENCHMARKS / "accuracy_study.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
        os.environ.clear()
        os.environ.update(environment)
    return module


def _saved(project: Path, name: str, text: str) -> None:
    """``data/08_reporting/study/<name>`` as one saved version, the layout of the versioned catalog."""
    path = project / "data" / "08_reporting" / "study" / name / "2026-12-08T00.00.00.000Z" / name
    path.parent.mkdir(parents=True)
    path.write_text(text)


def test_a_study_of_one_strategy_has_no_mcnemar_table(study, tmp_path):
    _saved(tmp_path, "fold_table.csv", FOLD_TABLE)
    _saved(tmp_path, "tests.csv", TESTS_HEADER)  # one strategy: no pair to test

    fold_table, tests_table, folds = study.study_tables(tmp_path)

    assert "| `scratch.basenet` | 75.0% / 77.0% |" in fold_table and len(folds) == 1
    assert tests_table == ""
