"""``kedro viz run`` on a copy of the project, opened in headless Chromium: the whole DAG is drawn.

kedro-viz only needs the configuration and the pipelines to draw the DAG, so no data is created. The server runs
offline: telemetry is off and its PyPI version check fails at once (an unreachable HTTPS proxy) instead of waiting.
Screenshots: ``data/08_reporting/kedro_viz.png`` (whole DAG with its layers) and ``kedro_viz_transfer.png`` (the
transfer pipeline with its namespaces expanded).
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from tests.browser.conftest import (
    free_port,
    kedro_env,
    running_server,
    venv_script,
    wait_for_text,
)
from tests.scratch_project import make_scratch_project

pytestmark = pytest.mark.browser

# Task nodes of the ingest, split and preprocess pipelines, drawn as they are.
TOP_LEVEL_NODES = ("acquire_images", "build_manifest", "select_classes", "split_dataset", "build_image_arrays")
# The model pipelines are namespaces, drawn collapsed until expanded.
MODULAR_PIPELINES = ("scratch", "transfer", "finetune")
# Nodes inside namespaces (transfer.mobilenet_v2.train_head_on_features ...), shown by their own name when expanded.
NAMESPACED_NODES = ("build_transfer_classifier", "extract_backbone_features", "train_head_on_features")
LAYERS = ("intermediate", "primary", "model_input", "models", "model_output", "reporting")


@pytest.fixture(scope="module")
def viz_url(browser_available, tmp_path_factory):
    """``kedro viz run --no-browser`` on a project copy; yields its address and stops it by its PID afterwards."""
    workdir = make_scratch_project(tmp_path_factory.mktemp("viz_project"))
    port = free_port()
    env = kedro_env()
    # kedro-viz asks PyPI for its latest version; offline that can hang up to 30 s. A proxy on the discard port
    # refuses at once, and the check treats that as "unknown". Local addresses bypass it.
    env.update(HTTPS_PROXY="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9", NO_PROXY="127.0.0.1,localhost")
    command = [venv_script("kedro"), "viz", "run", "--no-browser", "--host", "127.0.0.1", "--port", str(port)]
    with running_server(command, workdir, env, workdir / "kedro_viz.log") as server:
        # kedro-viz moves to the next port when the one asked for was taken meanwhile: read the one it serves on.
        match = server.wait_for_log(r"running at\s+http://127\.0\.0\.1:(\d+)/")
        url = f"http://127.0.0.1:{match.group(1)}/"
        server.wait_until_serving(url + "api/main")
        yield url


# Saved in the browser's storage before the app starts: no onboarding hints, no sidebar or minimap over the graph.
_VIZ_SETTINGS = {
    "showFeatureHints": False,
    "theme": "light",
    "visible": {"sidebar": False, "miniMap": False, "code": False, "graph": True, "slicing": True, "traceback": False},
}


def _open_viz(driver, viz_url: str, query: str = "") -> None:
    """Opens kedro-viz with ``_VIZ_SETTINGS`` (localStorage is per origin, so it is set from the cheap API page)."""
    driver.get(viz_url + "api/main")
    driver.execute_script("localStorage.setItem('KedroViz', arguments[0]);", json.dumps(_VIZ_SETTINGS))
    driver.get(viz_url + query)


def _screenshot(driver, path) -> None:
    """Dismisses the "new version" banner (offline the version is unknown), fits the graph, saves a PNG."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    for button in driver.find_elements(By.CSS_SELECTOR, ".update-reminder-unexpanded button"):
        if button.text == "Dismiss":
            driver.execute_script("arguments[0].click();", button)
    for button in driver.find_elements(By.CSS_SELECTOR, "button[aria-label='Reset zoom']"):
        driver.execute_script("arguments[0].click();", button)
    time.sleep(1.5)  # the graph animates its zoom-to-fit
    assert driver.save_screenshot(str(path)), f"Chromium could not save {path}"
    assert path.stat().st_size > 10_000, f"{path} is nearly empty"


def test_the_api_lists_every_pipeline_and_the_catalog_layers(viz_url):
    with urllib.request.urlopen(viz_url + "api/main", timeout=30) as response:  # noqa: S310 - localhost
        graph = json.load(response)
    assert {"ingest", "split", "preprocess", "scratch", "transfer", "finetune", "report"} <= {
        pipeline["id"] for pipeline in graph["pipelines"]
    }
    # Sorted by the data flow; an empty list would mean kedro-viz found a cycle among the layers and hid them.
    assert graph["layers"] == list(LAYERS)
    layer_of = {node["name"]: node.get("layer") for node in graph["nodes"] if node["type"] == "data"}
    assert layer_of["manifest"] == "intermediate"
    assert layer_of["transfer.mobilenet_v2.model"] == "models"  # a dataset factory entry
    assert layer_of["comparison"] == "reporting"


def test_the_whole_dag_renders_with_node_names_and_layers(viz_url, browser, screenshot_dir):
    browser.set_window_size(2400, 1350)  # the whole DAG is wide: the report fans out into many figures
    _open_viz(browser, viz_url)
    wait_for_text(browser, TOP_LEVEL_NODES + MODULAR_PIPELINES, css="svg text")
    wait_for_text(browser, LAYERS, css=".pipeline-layer-name")
    _screenshot(browser, screenshot_dir / "kedro_viz.png")


def test_namespaced_model_nodes_render_when_expanded(viz_url, browser, screenshot_dir):
    _open_viz(browser, viz_url, "?pid=transfer&expandAllPipelines=true")
    wait_for_text(browser, (*NAMESPACED_NODES, "transfer.mobilenet_v2.model"), css="svg text")
    _screenshot(browser, screenshot_dir / "kedro_viz_transfer.png")
