"""``notebooks/compare_models.ipynb`` runs headless after a ``kedro run`` of a scratch project copy.

The run is kept small (one scratch model, 16 px images, one epoch; set in the copy's
``conf/local``), then the notebook is copied into the copy's ``notebooks/`` folder and executed
there with nbclient, as a user would open it.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.scratch_project import kedro_env, make_scratch_project, run_kedro

pytestmark = pytest.mark.e2e

NOTEBOOK = Path("notebooks") / "compare_models.ipynb"
MODEL = "scratch.basenet"
# Colours and hyperlinks in rich's output.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\]8;[^\x1b]*\x1b\\")
PER_MODEL_FIGURES = 3  # learning curves, confusion matrix, prediction grid

# conf/local/parameters.yml of the scratch copy rather than `--params`: the notebook's Kedro session
# then reads the same (small) model plan as the run.
SMALL_RUN_PARAMETERS = {
    "scratch": {"training": {"epochs": 1}, "models": {"cnn3_dropout": {"enabled": False}}},
    "transfer": {"models": {"mobilenet_v2": {"enabled": False}, "mobilenet_v1_075": {"enabled": False}}},
    "finetune": {"models": {"mobilenet_v2": {"enabled": False}, "mobilenet_v1_075": {"enabled": False}}},
    "embeddings": {"tsne_max_points": 200},  # the map of all 1,797 digits is not what this test is about
    "report": {"bootstrap_samples": 100},
}


def _kernel_spec_for_this_interpreter(folder: Path) -> Path:
    """A ``python3`` kernel spec running this test's interpreter, which has the project's packages.

    Put first on ``JUPYTER_PATH``, it wins over a ``python3`` kernel the user registered elsewhere.
    """
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Python 3 (test)", "language": "python"})
    )
    return folder


@pytest.fixture(scope="module")
def executed_notebook(tmp_path_factory, project_root) -> nbformat.NotebookNode:
    """The notebook after running every cell in a project copy filled by a small ``kedro run``."""
    workdir = make_scratch_project(tmp_path_factory.mktemp("project"), parameters=SMALL_RUN_PARAMETERS, digits=True)
    env = kedro_env()
    run_kedro(workdir, env=env, timeout=600)

    (workdir / "notebooks").mkdir()
    notebook_path = shutil.copy(project_root / NOTEBOOK, workdir / NOTEBOOK)
    notebook = nbformat.read(notebook_path, as_version=4)
    kernels = _kernel_spec_for_this_interpreter(tmp_path_factory.mktemp("jupyter"))
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,  # per cell
        # The kernel's working directory, as when the notebook is opened from the project.
        resources={"metadata": {"path": str(workdir / "notebooks")}},
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(kernels))
        try:
            return client.execute(env=env)
        except CellExecutionError as error:
            # Kedro's rich traceback handler shows the traceback as output, not in the error.
            pytest.fail(f"{error}\nOutputs of the notebook so far:\n{_all_text(notebook)[-8000:]}")


def _all_text(notebook: nbformat.NotebookNode) -> str:
    """Printed text, displayed values and tracebacks of every cell, in order."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text") or output.get("data", {}).get("text/plain", ""))
            texts.extend(output.get("traceback", []))
    return ANSI_ESCAPE.sub("", "\n".join(texts))


def _cell(notebook: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    return next(cell for cell in notebook.cells if cell.get("id") == cell_id)


def _printed(notebook: nbformat.NotebookNode) -> str:
    return "".join(
        output["text"]
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output["output_type"] == "stream"
    )


def _result_html(cell: nbformat.NotebookNode) -> str:
    """The HTML of the cell's value (a DataFrame), not of the log records Kedro displays."""
    results = [output for output in cell.outputs if output["output_type"] == "execute_result"]
    assert results, f"cell {cell.id} shows no value"
    return results[-1]["data"]["text/html"]


def test_the_committed_notebook_has_no_outputs(project_root):
    notebook = nbformat.read(project_root / NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells[0].source.strip() == "%load_ext kedro.ipython"
    assert all(not cell.outputs and cell.execution_count is None for cell in code_cells), (
        f"Clear the outputs of {NOTEBOOK} before committing "
        "(Jupyter: Edit > Clear Outputs of All Cells)."
    )


def test_every_cell_ran_without_error(executed_notebook):
    code_cells = [cell for cell in executed_notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code_cells)
    errors = [out for cell in code_cells for out in cell.outputs if out["output_type"] == "error"]
    assert not errors


def test_it_shows_the_comparison_table_loaded_through_the_catalog(executed_notebook):
    table = _result_html(_cell(executed_notebook, "comparison"))
    assert "<table" in table and MODEL in table and "accuracy_ci_low" in table
    printed = _printed(executed_notebook)
    assert "comparison version:" in printed
    assert "No strategy tests: the run trained models of a single strategy." in printed


def test_it_shows_the_comparison_chart_and_every_model_figure(executed_notebook):
    images = [
        output
        for cell in executed_notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(images) == 1 + PER_MODEL_FIGURES
    printed = _printed(executed_notebook)
    assert f"Models: {MODEL}" in printed
    for figure in ("learning_curves", "confusion_matrix", "predictions"):
        assert f"report.{MODEL}.{figure}_figure (version " in printed
    assert "comparison_figure (version " in printed


def test_it_shows_the_best_models_history_per_epoch(executed_notebook):
    assert f"Best model by test accuracy: {MODEL}" in _printed(executed_notebook)
    history = _result_html(_cell(executed_notebook, "history"))
    assert "val_accuracy" in history and "epoch" in history
