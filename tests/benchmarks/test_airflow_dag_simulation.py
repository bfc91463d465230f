"""The worked cluster estimate of benchmarks/airflow_dag.py: list scheduling of the DAG's measured task times."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))  # the script imports its sibling `common`
    try:
        spec = importlib.util.spec_from_file_location("airflow_dag_benchmark", BENCHMARKS / "airflow_dag.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_simulated_wall_time_follows_workers_and_dependencies(bench):
    durations = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 1.0}
    edges = {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")}
    assert bench.simulate(durations, edges, 1) == 7.0  # everything in a row
    assert bench.simulate(durations, edges, 2) == 5.0  # b beside c: the critical path a, c, d
    assert bench.simulate(durations, edges, 8) == 5.0


def test_dag_edges_reads_the_generated_file_and_adds_the_mlflow_tasks(bench, tmp_path):
    dag = tmp_path / "dag.py"
    dag.write_text('tasks = {"split": split(p), "scratch": scratch(p)}\ntasks["split"] >> tasks["scratch"]\n')
    assert bench.dag_edges(dag) == {
        ("split", "scratch"), ("mlflow_parent_run", "split"), ("mlflow_parent_run", "scratch"),
        ("split", "mlflow_end_run"), ("scratch", "mlflow_end_run"),
    }  # fmt: skip
