"""A tiny ``kedro run`` logs to MLflow; ``mlflow ui`` on that store, opened in headless Chromium, lists the run.

The run trains the scratch models for one epoch on 16x16 digits (a few seconds of training), so the run has
per-epoch metrics such as ``scratch.basenet.val_accuracy``. Screenshots: ``data/08_reporting/mlflow_ui_runs.png``
(the experiment's runs) and ``data/08_reporting/mlflow_ui.png`` (the run with its metrics).
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest

from tests.browser.conftest import (
    free_port,
    kedro_env,
    running_server,
    venv_script,
    wait_for_text,
)
from tests.scratch_project import make_scratch_project, run_kedro

pytestmark = pytest.mark.browser

EXPERIMENT = "image_classification"  # conf/base/mlflow.yml
TINY_RUN = (
    "--pipelines", "ingest,split,preprocess,scratch",
    "--params", "scratch.training.epochs=1",
)  # fmt: skip
METRICS = ("scratch.basenet.val_accuracy", "scratch.basenet.loss")


@pytest.fixture(scope="module")
def tiny_run_dir(browser_available, tmp_path_factory):
    """A project copy after one tiny ``kedro run``: its mlflow.db holds one run with metrics."""
    workdir = make_scratch_project(tmp_path_factory.mktemp("mlflow_project"), digits=True)
    run_kedro(workdir, *TINY_RUN, env=kedro_env(), timeout=300)
    assert (workdir / "mlflow.db").is_file(), "kedro run did not create mlflow.db (conf/base/mlflow.yml)"
    return workdir


@pytest.fixture(scope="module")
def mlflow_url(tiny_run_dir):
    """``mlflow ui`` on the tiny run's store; stopped by its PID (process group) afterwards."""
    port = free_port()
    command = [
        venv_script("mlflow"), "ui",
        "--backend-store-uri", f"sqlite:///{tiny_run_dir / 'mlflow.db'}",
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1",  # one uvicorn worker is plenty for one browser
    ]  # fmt: skip
    with running_server(command, tiny_run_dir, kedro_env(), tiny_run_dir / "mlflow_ui.log") as server:
        url = f"http://127.0.0.1:{port}/"
        server.wait_until_serving(url + "health")
        yield url


def _api(url: str, path: str, body: dict | None = None) -> dict:
    """One call of the MLflow REST API the UI itself uses."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url + "ajax-api/2.0/mlflow/" + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own localhost server
        return json.load(response)


@pytest.fixture(scope="module")
def logged_run(mlflow_url) -> dict:
    """Experiment id, run id and run name of the tiny run, as the server reports them."""
    query = urllib.parse.urlencode({"experiment_name": EXPERIMENT})
    experiment_id = _api(mlflow_url, f"experiments/get-by-name?{query}")["experiment"]["experiment_id"]
    runs = _api(mlflow_url, "runs/search", {"experiment_ids": [experiment_id]})["runs"]
    assert len(runs) == 1, f"expected the tiny run only, got {len(runs)} runs"
    info = runs[0]["info"]
    return {"experiment_id": experiment_id, "run_id": info["run_id"], "run_name": info["run_name"]}


def _screenshot(driver, path) -> None:
    time.sleep(1)  # charts and tables fade in
    assert driver.save_screenshot(str(path)), f"Chromium could not save {path}"
    assert path.stat().st_size > 10_000, f"{path} is nearly empty"


def _close_assistant(driver) -> None:
    """Closes MLflow 3's assistant side panel, which covers a third of the page."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    close_buttons = "button[aria-label='Close'], button[aria-label='Close assistant']"
    for button in driver.find_elements(By.CSS_SELECTOR, close_buttons):
        if button.is_displayed():
            driver.execute_script("arguments[0].click();", button)


def test_the_experiment_lists_the_kedro_run_and_the_run_shows_its_metrics(
    mlflow_url, logged_run, browser, screenshot_dir
):
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    browser.set_window_size(1600, 1200)
    # workflowType=machine_learning: MLflow 3 opens experiments on its GenAI (traces) view otherwise.
    browser.get(f"{mlflow_url}#/experiments/{logged_run['experiment_id']}/runs?workflowType=machine_learning")
    wait_for_text(browser, (EXPERIMENT, logged_run["run_name"], "1 matching run"))
    _close_assistant(browser)
    _screenshot(browser, screenshot_dir / "mlflow_ui_runs.png")

    # Open the run as a user would: its name in the runs table is a link.
    link = browser.find_element(By.LINK_TEXT, logged_run["run_name"])
    browser.execute_script("arguments[0].click();", link)
    wait_for_text(browser, (logged_run["run_id"], *METRICS, "preprocess.image_size"))
    assert logged_run["run_id"] in browser.current_url

    # The link drops workflowType, and MLflow falls back to its GenAI navigation: reopen the run in the
    # "Model training" one for the screenshot, scrolled to the metrics table.
    run_page = f"#/experiments/{logged_run['experiment_id']}/runs/{logged_run['run_id']}"
    browser.get(f"{mlflow_url}{run_page}?workflowType=machine_learning")
    wait_for_text(browser, METRICS)
    _close_assistant(browser)
    heading = browser.find_elements(By.XPATH, "//*[starts-with(normalize-space(text()), 'Metrics (')]")
    if heading:
        browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", heading[0])
    _screenshot(browser, screenshot_dir / "mlflow_ui.png")
