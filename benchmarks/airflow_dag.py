"""Wall time of the pipeline as an Airflow 3 DAG (LocalExecutor, parallelism 2) vs one sequential ``kedro run``.

    make airflow-venv
    .venv-airflow/bin/python benchmarks/airflow_dag.py --results docs/results.md     # ~20 min on 2 shared cores

Both run the same ``__default__`` pipeline with the same settings on the bundled digits (1,797 images, 10 classes),
against the same throw-away PostgreSQL + MLflow server (``deploy/tracking_server.py``), in two scratch copies of the
project: first ``kedro run --env server`` (timed from start to exit), then the DAG of
``kedro airflow create --env server --group-by namespace`` on a real scheduler (``deploy/airflow_local.py``; timed
from the DAG run's start to its end as Airflow records them; starting Airflow itself is not counted). Each task's measured duration then
feeds a simulation of the same DAG on W workers (list scheduling in dependency order, every task taking its measured
time), the estimate for a cluster whose workers are as fast as this machine's task slots.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import REPO_ROOT, Machine, emit, markdown_table, section, setup_environment

sys.path.insert(0, str(REPO_ROOT))  # deploy/ and tests/ (the scratch project helper)

from deploy import tracking_server  # noqa: E402
from deploy.airflow_local import LocalAirflow, task_seconds  # noqa: E402
from tests.scratch_project import kedro_env, make_scratch_project  # noqa: E402

TRAINING_TASKS = ("scratch", "transfer", "finetune")


def parameters(epochs: int, image_size: int) -> dict:
    training = {"training": {"epochs": epochs}}
    return {
        "preprocess": {"image_size": image_size},
        "scratch": {**training, "models": {"basenet": {"input_size": image_size},
                                           "cnn3_dropout": {"input_size": image_size}}},
        "transfer": {**training, "models": {"mobilenet_v1_075": {"enabled": False}}},
        "finetune": {"training": {"epochs": max(1, epochs // 2)}, "models": {"mobilenet_v1_075": {"enabled": False}}},
        "report": {"bootstrap_samples": 200, "registry": {"model_name": "digits_benchmark"}},
    }  # fmt: skip


def server_project(workdir: Path, settings: dict) -> Path:
    project = make_scratch_project(workdir, digits=True, parameters=settings)
    (project / "conf" / "server" / "parameters.yml").write_text((project / "conf/local/parameters.yml").read_text())
    return project


def dag_edges(dag_file: Path) -> set[tuple[str, str]]:
    """(upstream, downstream) task ids of the generated DAG file, the MLflow parent/end tasks included."""
    tree = ast.parse(dag_file.read_text())
    edges, tasks = set(), set()
    for item in ast.walk(tree):
        if isinstance(item, ast.BinOp) and isinstance(item.op, ast.RShift) and isinstance(item.left, ast.Subscript):
            edges.add((item.left.slice.value, item.right.slice.value))
        if (isinstance(item, ast.Assign) and getattr(item.targets[0], "id", None) == "tasks"
                and isinstance(item.value, ast.Dict)):  # tasks = {"task-id": task_function(parent_run_id), ...}
            tasks |= {key.value for key in item.value.keys}
    edges |= {("mlflow_parent_run", task) for task in tasks} | {(task, "mlflow_end_run") for task in tasks}
    return edges


def simulate(durations: dict[str, float], edges: set[tuple[str, str]], workers: int) -> float:
    """Makespan of list scheduling on ``workers`` slots: a ready task starts on the first free slot."""
    upstream = {task: {a for a, b in edges if b == task} for task in durations}
    finish: dict[str, float] = {}
    slots = [0.0] * workers
    while len(finish) < len(durations):
        ready = [t for t in durations if t not in finish and upstream[t] <= finish.keys()]
        ready.sort(key=lambda t: max((finish[u] for u in upstream[t]), default=0.0))
        task = ready[0]
        slot = min(range(workers), key=lambda i: slots[i])
        start = max(slots[slot], max((finish[u] for u in upstream[task]), default=0.0))
        finish[task] = slots[slot] = start + durations[task]
    return max(finish.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6, help="scratch and transfer epochs (finetune: half)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    setup_environment()
    settings = parameters(args.epochs, args.image_size)
    machine = Machine()
    workdir = Path(tempfile.mkdtemp(prefix="ic-airflow-bench-"))
    workdir.chmod(0o755)  # the database's unprivileged user works in workdir/services
    state = workdir / "services"
    services = tracking_server.start(state, python=Path(sys.executable))
    try:
        sequential_project = server_project(workdir / "sequential", settings)
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kedro", "run", "--env", "server"], cwd=sequential_project,
                       env=kedro_env(MLFLOW_TRACKING_URI=services.tracking_uri), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        sequential_s = time.perf_counter() - began
        print(f"sequential kedro run: {sequential_s:.0f} s", flush=True)  # noqa: T201

        airflow = LocalAirflow(server_project(workdir / "dag", settings), services, workdir / "airflow",
                               args.parallelism)  # fmt: skip
        with airflow:
            result = airflow.run_dag(timeout=7200)
            dag_s = result.wall_s  # Airflow's own start and end of the DAG run
            dag_file = next((workdir / "airflow" / "dags").glob("*.py"))
            edges = dag_edges(dag_file)
    finally:
        tracking_server.stop(state)
    machine.finish()
    if result.state != "success":
        raise SystemExit(f"the DAG run ended {result.state}")

    durations = {task["task_id"]: task_seconds(task) or 0.0 for task in result.tasks}
    kedro_tasks = {t: d for t, d in durations.items() if not t.startswith("mlflow_")}
    small = [d for t, d in kedro_tasks.items() if t not in TRAINING_TASKS and t != "report"]
    rows = [
        ["one `kedro run` (sequential, one process)", f"{sequential_s:.0f}", "1.00"],
        [f"Airflow DAG, LocalExecutor, parallelism {args.parallelism} ({len(durations)} tasks)",
         f"{dag_s:.0f}", f"{sequential_s / dag_s:.2f}"],
    ]  # fmt: skip
    per_task = markdown_table(
        ["task", "seconds"],
        [[t, f"{d:.0f}"] for t, d in sorted(durations.items(), key=lambda item: -item[1])],
    )
    simulated = markdown_table(
        ["workers", "simulated DAG wall time (s)", "vs sequential run"],
        [[w, f"{simulate(durations, edges, w):.0f}", f"{sequential_s / simulate(durations, edges, w):.2f}"]
         for w in (1, 2, 4, 8, 64)],
    )  # fmt: skip
    body = "\n\n".join([
        markdown_table(["way", "wall time (s)", "speed-up vs sequential"], rows),
        "Measured duration of each DAG task (start to end, one Kedro session each):",
        per_task,
        "The same DAG simulated on W workers from those measured task times (tasks as slow as they were here):",
        simulated,
    ])  # fmt: skip
    notes = [
        f"Summed task time {sum(durations.values()):.0f} s against {sequential_s:.0f} s for the whole run in one "
        f"process: each task is its own `KedroSession` (Python, Kedro, TensorFlow imports, catalog, MLflow), a "
        f"median {statistics.median(small):.0f} s for the {len(small)} tasks of one small node each.",
        "The sequential run is timed from start to exit of `kedro run --env server` against the same MLflow server; "
        "the DAG's time is the DAG run's start and end as Airflow recorded them (Airflow's own start-up not "
        "counted), so it includes the scheduler's delays between tasks.",
        "The machine was shared with other jobs during the run (see the load figures above).",
    ]
    data = (f"bundled digits (1,797 images of 8x8 px, 10 classes), image size {args.image_size}, "
            f"settings: `{yaml.safe_dump(settings, default_flow_style=True, width=10_000).strip()}`")  # fmt: skip
    emit(section("Airflow DAG vs one sequential kedro run", body, machine, data, notes), args.results, "airflow_dag")


if __name__ == "__main__":
    main()
