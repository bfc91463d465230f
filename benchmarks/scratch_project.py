"""``kedro run`` on a scratch copy of the project, so benchmarks never write into the repository's ``data/``.

The copy holds ``conf/`` (without ``conf/local``), ``pyproject.toml`` and an empty ``src/`` (Kedro insists on it); the
package itself comes from ``PYTHONPATH``. Settings of a study go into ``conf/local/parameters_benchmark.yml`` of the
copy, which Kedro merges key by key over ``conf/base`` (the project's ``merge_strategy: soft``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from common import REPO_ROOT

OVERRIDES_FILE = "parameters_benchmark.yml"
# A plain one-line-per-record log (Kedro's default rich handler wraps lines at the terminal width).
_PLAIN_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s", "datefmt": "%H:%M:%S"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stdout"}},
    "loggers": {"kedro": {"level": "INFO"}, "image_classification": {"level": "INFO"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}


def make_project(workdir: Path, overrides: dict[str, Any], *, plain_logging: bool = False) -> Path:
    """Creates the scratch copy in ``workdir`` (which must not exist yet) with ``overrides`` as local parameters."""
    workdir = Path(workdir)
    if workdir.exists():
        raise SystemExit(f"Work folder '{workdir}' already exists; pass a new --workdir or remove it.")
    shutil.copytree(REPO_ROOT / "conf", workdir / "conf", ignore=shutil.ignore_patterns("local"))
    (workdir / "conf" / "local").mkdir()
    (workdir / "conf" / "local" / OVERRIDES_FILE).write_text(yaml.safe_dump(overrides, sort_keys=False))
    shutil.copy(REPO_ROOT / "pyproject.toml", workdir / "pyproject.toml")
    (workdir / "src").mkdir()
    if plain_logging:
        (workdir / "logging.yml").write_text(yaml.safe_dump(_PLAIN_LOGGING, sort_keys=False))
    return workdir


def kedro_env(workdir: Path) -> dict[str, str]:
    """The environment of a ``kedro run`` in ``workdir``: project package on the path, shared weights, quiet logs."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH")])),
        "KEDRO_DISABLE_TELEMETRY": "true",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
    }
    if (workdir / "logging.yml").is_file():
        env["KEDRO_LOGGING_CONFIG"] = str(workdir / "logging.yml")
    return env


def run_command(
    command: list[str],
    workdir: Path,
    log_file: Path,
    *,
    env: dict[str, str] | None = None,
    show: Callable[[str], bool] | None = None,
) -> float:
    """Runs ``command`` in ``workdir``, appending its output to ``log_file``; returns its wall time in seconds.

    Lines for which ``show`` is true are echoed with the elapsed time. Exits with the log's tail when it fails.
    """
    started = time.perf_counter()
    with open(log_file, "a") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen(
            command, cwd=workdir, env=env or kedro_env(workdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1,
        )
        for line in process.stdout:
            log.write(line)
            if show is not None and show(line):
                shown = line.rstrip().split("(", 1)[0] if "Running node" in line else line.rstrip()
                print(f"  [{time.perf_counter() - started:5.0f} s] {shown[:160]}", flush=True)  # noqa: T201
        returncode = process.wait()
    seconds = time.perf_counter() - started
    if returncode != 0:
        tail = "".join(Path(log_file).read_text().splitlines(keepends=True)[-40:])
        raise SystemExit(f"`{' '.join(command)}` failed (exit {returncode}) in {workdir}; log {log_file}:\n{tail}")
    return seconds


def kedro_run(workdir: Path, *arguments: str, log_file: Path, show: Callable[[str], bool] | None = None) -> float:
    """``python -m kedro run <arguments>`` in the scratch copy; returns its wall time in seconds."""
    return run_command([sys.executable, "-m", "kedro", "run", *arguments], workdir, log_file, show=show)


def latest_version(workdir: Path, dataset_path: str) -> Path:
    """The newest saved file of a versioned catalog dataset, e.g. ``data/08_reporting/comparison.csv``."""
    root = workdir / dataset_path
    versions = sorted(root.glob(f"*/{root.name}"))
    if not versions:
        raise SystemExit(f"No saved version of '{dataset_path}' under {workdir}; did the kedro run produce it?")
    return versions[-1]


PROGRESS = re.compile(r"Running node|Completed \d+ out of|^Epoch \d+/|val_accuracy|ERROR|Traceback|Error:")


def progress_line(line: str) -> bool:
    """Lines of a kedro run worth echoing as progress."""
    return bool(PROGRESS.search(line))
