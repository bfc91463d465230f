"""The Airflow DAGs that ``kedro airflow create`` writes for ``__default__`` (docs/scale_out.md).

In a scratch copy of the project, one subprocess writes two DAGs with kedro-airflow's own command and dumps the
Kedro pipeline they came from (each node's inputs and outputs, and which datasets live only in memory):

* ``--group-by memory`` (base environment): one task per model;
* ``--env server --group-by namespace -j deploy/airflow_dag_template.j2``: the DAG that runs on Airflow
  (``deploy/airflow_local.py``, tests/scale_out): one task per strategy. Its check that no memory dataset crosses a
  task is the build's guard: a pipeline change that hands data over in memory between tasks fails here.

The DAG files are read with ``ast``: Airflow need not be installed.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.scratch_project import PROJECT_ROOT, kedro_env, make_scratch_project

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("kedro_airflow") is None, reason="kedro-airflow is not installed"
)

TEMPLATE = PROJECT_ROOT / "deploy" / "airflow_dag_template.j2"

# Runs in the scratch project: writes the DAG, then prints the pipeline it was written from as JSON.
_WRITE_DAG_AND_DUMP_PIPELINE = """
import json, sys
from pathlib import Path
from kedro.framework.cli.cli import KedroCLI
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.io import MemoryDataset

project = Path.cwd()
KedroCLI(project).main(["airflow", "create", "--group-by", "memory", "-t", "dags"], standalone_mode=False)
KedroCLI(project).main(["airflow", "create", "--env", "server", "--group-by", "namespace", "-j", sys.argv[1],
                        "-t", "dags"], standalone_mode=False)
dump = {}
for env in ("local", "server"):
    with KedroSession.create(project_path=project, env=env) as session:
        catalog = session.load_context().catalog
        pipeline = pipelines["__default__"]
        memory = sorted(name for name in pipeline.datasets()
                        if name not in catalog or isinstance(catalog.get(name), MemoryDataset))
        nodes = {node.name: {"inputs": node.inputs, "outputs": node.outputs} for node in pipeline.nodes}
        groups = {group.name: group.nodes for group in pipeline.group_nodes_by("namespace")}
    dump[env] = {"nodes": nodes, "memory": memory, "groups": groups}
print(json.dumps(dump))
"""


def _read_dag(path: Path) -> tuple[dict[str, list[str]], set[tuple[str, str]]]:
    """Task id -> the Kedro nodes it runs, and the (upstream, downstream) task pairs of the generated DAG file."""
    tree = ast.parse(path.read_text())
    tasks: dict[str, list[str]] = {}
    edges: set[tuple[str, str]] = set()
    for item in ast.walk(tree):
        if isinstance(item, ast.FunctionDef):
            for decorator in item.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "task":
                    task_id = next(k.value.value for k in decorator.keywords if k.arg == "task_id")
                    call = item.body[0].value
                    tasks[task_id] = ast.literal_eval(next(k.value for k in call.keywords if k.arg == "node_names"))
        elif isinstance(item, ast.BinOp) and isinstance(item.op, ast.RShift):
            edges.add((item.left.slice.value, item.right.slice.value))
    return tasks, edges


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    project = make_scratch_project(tmp_path_factory.mktemp("airflow"))
    # kedro-mlflow opens the server environment's store (MLFLOW_TRACKING_URI) while the DAG is written
    env = kedro_env(MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}")
    result = subprocess.run(
        [sys.executable, "-c", _WRITE_DAG_AND_DUMP_PIPELINE, str(TEMPLATE)],
        cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return project, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def dag_and_pipeline(written) -> dict[str, Any]:
    project, dump = written
    dag = project / "dags" / "image_classification_dag.py"
    compile(dag.read_text(), str(dag), "exec")  # valid Python
    tasks, edges = _read_dag(dag)
    task_of = {node: task for task, nodes in tasks.items() for node in nodes}
    return {**dump["local"], "tasks": tasks, "edges": edges, "task_of": task_of, "text": dag.read_text()}


@pytest.fixture(scope="module")
def namespace_dag(written) -> dict[str, Any]:
    project, dump = written
    dag = project / "dags" / "image_classification_server_dag.py"
    text = dag.read_text()
    compile(text, str(dag), "exec")
    groups = dump["server"]["groups"]
    task_of = {node: group for group, nodes in groups.items() for node in nodes}
    return {**dump["server"], "task_of": task_of, "text": text, "tree": ast.parse(text)}


def _kedro_edges(nodes: dict[str, dict[str, list[str]]]) -> set[tuple[str, str, str]]:
    """(producer node, consumer node, dataset) for every dataset a node passes to another."""
    producer = {output: name for name, node in nodes.items() for output in node["outputs"]}
    return {(producer[d], name, d) for name, node in nodes.items() for d in node["inputs"] if d in producer}


def test_every_kedro_node_runs_in_exactly_one_task(dag_and_pipeline):
    all_nodes = [node for nodes in dag_and_pipeline["tasks"].values() for node in nodes]
    assert sorted(all_nodes) == sorted(dag_and_pipeline["nodes"])
    assert 'pipeline_name = "__default__"' in dag_and_pipeline["text"]
    # Airflow refuses task ids over 250 characters (a group's id joins its node names)
    assert max(len(task) for task in dag_and_pipeline["tasks"]) <= 250


def test_task_dependencies_are_exactly_the_kedro_dependencies_between_tasks(dag_and_pipeline):
    task_of = dag_and_pipeline["task_of"]
    expected = {
        (task_of[producer], task_of[consumer])
        for producer, consumer, _ in _kedro_edges(dag_and_pipeline["nodes"])
        if task_of[producer] != task_of[consumer]
    }
    assert dag_and_pipeline["edges"] == expected


def test_no_in_memory_dataset_crosses_a_task(dag_and_pipeline):
    """Each Airflow task is its own ``kedro run`` (often on its own machine): only saved datasets can be handed on."""
    memory, task_of = set(dag_and_pipeline["memory"]), dag_and_pipeline["task_of"]
    crossing = {
        dataset
        for producer, consumer, dataset in _kedro_edges(dag_and_pipeline["nodes"])
        if task_of[producer] != task_of[consumer] and dataset in memory
    }
    assert crossing == set()


def test_each_model_trains_in_one_task_of_its_own(dag_and_pipeline):
    """One GPU task per model: its training blocks, build, (features) and fit; no other model's nodes."""
    task_of = dag_and_pipeline["task_of"]
    trainers = {"train_scratch_model", "train_head_on_features", "train_transfer_end_to_end", "fine_tune_model"}
    training = {name for name in dag_and_pipeline["nodes"] if name.rsplit(".", 1)[-1] in trainers}
    assert {name.split(".")[0] for name in training} == {"scratch", "transfer", "finetune"}
    for name in training:
        namespace = name.rsplit(".", 1)[0]  # e.g. transfer.mobilenet_v2
        task_nodes = dag_and_pipeline["tasks"][task_of[name]]
        assert all(node.startswith(namespace + ".") for node in task_nodes), task_nodes
        assert f"{namespace}.collect_training_blocks" in task_nodes
    assert len({task_of[name] for name in training}) == len(training)


def _crossing(pipeline: dict[str, Any]) -> set[str]:
    memory, task_of = set(pipeline["memory"]), pipeline["task_of"]
    return {
        dataset
        for producer, consumer, dataset in _kedro_edges(pipeline["nodes"])
        if task_of[producer] != task_of[consumer] and dataset in memory
    }


def test_namespace_dag_hands_only_saved_datasets_between_tasks(namespace_dag):
    """The DAG that runs on Airflow: conf/server persists every dataset its tasks exchange."""
    assert _crossing(namespace_dag) == set()


def test_namespace_dag_has_a_task_per_strategy_each_under_the_mlflow_parent_run(namespace_dag):
    task_ids = set()
    for item in ast.walk(namespace_dag["tree"]):
        if isinstance(item, ast.Call) and getattr(item.func, "id", None) == "task":
            task_ids |= {k.value.value for k in item.keywords if k.arg == "task_id"}
    assert {"scratch", "transfer", "finetune", "report"} <= task_ids
    assert {"mlflow_parent_run", "mlflow_end_run"} <= task_ids
    assert sorted(node for nodes in namespace_dag["groups"].values() for node in nodes) == sorted(namespace_dag["nodes"])
    assert 'env = "server"' in namespace_dag["text"] and "IMAGE_CLASSIFICATION_PARENT_RUN_ID" in namespace_dag["text"]
