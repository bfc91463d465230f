"""A tiny ``kedro run`` logs to MLflow; ``mlflow ui`` on that store, opened in headless Chromium, shows the parent
run, its child runs side by side in the Compare view, and the registered model with its ``champion`` alias.

The run trains one model per strategy for one epoch on 32x32 digits (``scratch.basenet``, ``transfer.mobilenet_v2``
and ``finetune.mobilenet_v2``) and reports on them, so each child run has per-epoch curves such as ``val_accuracy``
and the report's ``test_accuracy``, and the Compare view shows the three strategies side by side.
Screenshots: ``data/08_reporting/mlflow_ui_runs.png`` (the experiment's runs), ``mlflow_ui.png`` (a child run's
metrics), ``mlflow_ui_compare.png`` (the Compare view of the child runs) and ``mlflow_ui_model.png`` (the registry).
"""

from __future__ import annotations

import json
import re
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
REGISTERED_MODEL = "image_classification"  # conf/base/parameters_report.yml: report.registry.model_name
OFF = {"enabled": False}
ONE_EPOCH = {"training": {"epochs": 1}}
TINY_PARAMETERS = {
    "preprocess": {"image_size": 32},  # MobileNetV2's smallest input
    "scratch": {**ONE_EPOCH, "models": {"cnn3_dropout": OFF}},
    "transfer": {**ONE_EPOCH, "models": {"mobilenet_v1_075": OFF}},
    "finetune": {**ONE_EPOCH, "models": {"mobilenet_v1_075": OFF}},
    "report": {"bootstrap_samples": 50},
}
TINY_RUN = ("--pipelines", "ingest,split,preprocess,scratch,transfer,finetune,report")
# One per strategy, and the linear probe the transfer pipeline fits beside its head.
CHILDREN = ("scratch.basenet", "transfer.mobilenet_v2", "finetune.mobilenet_v2", "baseline.linear_probe.mobilenet_v2")
METRICS = ("val_accuracy", "loss", "test_accuracy")


@pytest.fixture(scope="module")
def tiny_run_dir(browser_available, tmp_path_factory):
    """A project copy after one tiny ``kedro run``: its mlflow.db holds one run with metrics."""
    workdir = make_scratch_project(tmp_path_factory.mktemp("mlflow_project"), digits=True, parameters=TINY_PARAMETERS)
    run_kedro(workdir, *TINY_RUN, env=kedro_env(), timeout=600)
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
    """Experiment id, the parent run's id and name, and its child runs (name -> id, test_accuracy), as served."""
    query = urllib.parse.urlencode({"experiment_name": EXPERIMENT})
    experiment_id = _api(mlflow_url, f"experiments/get-by-name?{query}")["experiment"]["experiment_id"]
    runs = _api(mlflow_url, "runs/search", {"experiment_ids": [experiment_id]})["runs"]
    assert len(runs) == 1 + len(CHILDREN), f"expected the tiny run and its children, got {len(runs)} runs"

    def tags(run: dict) -> dict:
        return {tag["key"]: tag["value"] for tag in run["data"].get("tags", [])}

    (parent,) = [run for run in runs if "mlflow.parentRunId" not in tags(run)]
    children = {
        run["info"]["run_name"]: {
            "run_id": run["info"]["run_id"],
            "test_accuracy": {m["key"]: m["value"] for m in run["data"]["metrics"]}["test_accuracy"],
        }
        for run in runs
        if tags(run).get("mlflow.parentRunId") == parent["info"]["run_id"]
    }
    assert sorted(children) == sorted(CHILDREN)
    info = parent["info"]
    return {"experiment_id": experiment_id, "run_id": info["run_id"], "run_name": info["run_name"],
            "children": children}  # fmt: skip


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


def test_the_experiment_lists_the_kedro_run_and_a_child_run_shows_its_metrics(
    mlflow_url, logged_run, browser, screenshot_dir
):
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    browser.set_window_size(1600, 1200)
    # workflowType=machine_learning: MLflow 3 opens experiments on its GenAI (traces) view otherwise.
    browser.get(f"{mlflow_url}#/experiments/{logged_run['experiment_id']}/runs?workflowType=machine_learning")
    # Named after what ran: pipelines (in Kedro's order), profile, start time.
    assert re.fullmatch(r"[a-z+]+ · base · \d{4}-\d\d-\d\d \d\d:\d\d", logged_run["run_name"]), logged_run["run_name"]
    assert set(logged_run["run_name"].split(" · ")[0].split("+")) == set(TINY_RUN[1].split(","))
    wait_for_text(browser, (EXPERIMENT, logged_run["run_name"]))
    _close_assistant(browser)
    _screenshot(browser, screenshot_dir / "mlflow_ui_runs.png")

    # Open the parent run as a user would: its name in the runs table is a link.
    link = browser.find_element(By.LINK_TEXT, logged_run["run_name"])
    browser.execute_script("arguments[0].click();", link)
    wait_for_text(browser, (logged_run["run_id"], "preprocess.image_size"))
    assert logged_run["run_id"] in browser.current_url

    # A child run's page in the "Model training" navigation (links drop workflowType), scrolled to its metrics.
    child_id = logged_run["children"][CHILDREN[0]]["run_id"]
    run_page = f"#/experiments/{logged_run['experiment_id']}/runs/{child_id}"
    browser.get(f"{mlflow_url}{run_page}?workflowType=machine_learning")
    wait_for_text(browser, METRICS)
    _close_assistant(browser)
    heading = browser.find_elements(By.XPATH, "//*[starts-with(normalize-space(text()), 'Metrics (')]")
    if heading:
        browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", heading[0])
    _screenshot(browser, screenshot_dir / "mlflow_ui.png")


def test_the_compare_view_of_the_child_runs_shows_each_model_and_its_test_accuracy(
    mlflow_url, logged_run, browser, screenshot_dir
):
    children = logged_run["children"]
    run_ids = urllib.parse.quote(json.dumps([child["run_id"] for child in children.values()]))
    experiments = urllib.parse.quote(json.dumps([logged_run["experiment_id"]]))
    browser.set_window_size(1600, 1400)
    browser.get(f"{mlflow_url}#/compare-runs?runs={run_ids}&experiments={experiments}")
    # The Compare view rounds metric values to three decimals.
    accuracies = [str(round(child["test_accuracy"], 3)) for child in children.values()]
    text = wait_for_text(
        browser, (f"Comparing {len(children)} Runs", *CHILDREN, "test_accuracy", "strategy", "scratch", "transfer",
                  "finetune")
    )
    metrics_table = text[text.index("Metrics") :]
    assert all(accuracy in metrics_table for accuracy in accuracies), (accuracies, metrics_table[:600])
    _close_assistant(browser)
    _screenshot(browser, screenshot_dir / "mlflow_ui_compare.png")


def test_the_registered_model_page_shows_the_champion_version(mlflow_url, logged_run, browser, screenshot_dir):
    browser.set_window_size(1600, 1000)
    browser.get(f"{mlflow_url}#/models/{REGISTERED_MODEL}")
    text = wait_for_text(browser, (REGISTERED_MODEL, "Version 1", "champion", "test_split"))
    assert any(f"namespace: {name}" in text for name in CHILDREN)
    _close_assistant(browser)
    _screenshot(browser, screenshot_dir / "mlflow_ui_model.png")
