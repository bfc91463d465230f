"""Headless Chromium (Debian's ``chromium`` + ``chromium-driver``) and the servers the browser tests open.

A server is started in its own process group and stopped by its PID's group, so the worker processes that
``kedro viz run`` (multiprocessing) and ``mlflow ui`` (uvicorn) spawn end with it. Nothing here needs the internet:
Chromium resolves no host but 127.0.0.1 and starts with its background networking off.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.scratch_project import kedro_env as scratch_kedro_env

CHROMIUM = Path(os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER_BINARY", "/usr/bin/chromedriver"))
SERVER_START_TIMEOUT_S = 120
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # Offline: any other host (Google Fonts in kedro-viz's page) fails at once instead of waiting on DNS.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--window-size=1600,1000",
)
# Ports above 49151 are refused by kedro-viz ("Cannot allocate an open TCP port").
_PORT_RANGE = (20000, 49000)


def _missing_browser() -> str | None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        return (
            f"Browser tests need Debian's Chromium and ChromeDriver; {', '.join(missing)} not found. "
            "Install them with `apt-get install -y chromium chromium-driver` (.ci/run does this in CI)."
        )
    try:
        import selenium  # noqa: F401, PLC0415
    except ImportError:
        return "Browser tests need Selenium: `pip install -e '.[test]'` (selenium is pinned there)."
    return None


@pytest.fixture(scope="session")
def browser_available() -> None:
    """Skips the test with the reason when Chromium, ChromeDriver or Selenium is missing."""
    reason = _missing_browser()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def browser(browser_available, tmp_path) -> Iterator:
    """A fresh headless Chromium (own empty profile) driven by Selenium; quit after the test."""
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def screenshot_dir(project_root) -> Path:
    """``data/08_reporting/`` of the repository (git-ignored), where the tests leave their screenshots."""
    folder = project_root / "data" / "08_reporting"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on, below 49152 (kedro-viz refuses higher ones)."""
    for port in random.sample(range(*_PORT_RANGE), 200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"No free TCP port found in {_PORT_RANGE} on {host}.")


def kedro_env() -> dict[str, str]:
    """Environment for Kedro and kedro-viz subprocesses, also without kedro-viz's own tracking."""
    return scratch_kedro_env(DO_NOT_TRACK="1")


def venv_script(name: str) -> str:
    """The console script ``name`` of the running interpreter's environment (``.venv/bin/kedro``)."""
    script = Path(sys.executable).parent / name
    return str(script) if script.exists() else name


class Server:
    """A server process started by a test; ``log()`` is its output so far."""

    def __init__(self, command: Sequence[str], cwd: Path, env: dict[str, str], log_file: Path) -> None:
        self.command = list(command)
        self.log_file = log_file
        with log_file.open("wb") as log:
            # Own session/process group: stop() ends the server's worker processes too.
            self.process = subprocess.Popen(
                self.command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self, tail: int = 6000) -> str:
        return self.log_file.read_text(errors="replace")[-tail:]

    def wait_until_serving(self, url: str, timeout_s: float = SERVER_START_TIMEOUT_S) -> None:
        """Polls ``url`` until it answers 200; fails with the server's log if it exits or times out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"`{' '.join(self.command)}` exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
                with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own localhost server
                    if response.status == 200:
                        return
            time.sleep(0.5)
        pytest.fail(f"{url} did not answer within {timeout_s:.0f} s; `{' '.join(self.command)}` log:\n{self.log()}")

    def wait_for_log(self, pattern: str, timeout_s: float = SERVER_START_TIMEOUT_S) -> re.Match:
        """Waits until the server's output matches ``pattern``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log(tail=100_000))
            if match:
                return match
            if self.process.poll() is not None:
                pytest.fail(f"`{' '.join(self.command)}` exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.5)
        command = " ".join(self.command)
        pytest.fail(f"No {pattern!r} in the output of `{command}` within {timeout_s:.0f} s:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM to the server's process group (led by its PID), SIGKILL to whatever is left after 15 s."""
        for sig, grace_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline:
                self.process.poll()  # reaps the leader: a zombie would still count as a member of the group
                if not _group_alive(self.pid):
                    return
                time.sleep(0.2)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def running_server(command: Sequence[str], cwd: Path, env: dict[str, str], log_file: Path) -> Iterator[Server]:
    """Starts ``command`` and always stops it (by its process group) when the block ends."""
    server = Server(command, cwd, env, log_file)
    try:
        yield server
    finally:
        server.stop()


def wait_for_text(driver, texts: Sequence[str], css: str = "body", timeout_s: float = 60) -> str:
    """Waits until every one of ``texts`` is in the text of the elements matching ``css``; returns that text."""
    from selenium.common.exceptions import TimeoutException  # noqa: PLC0415
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    def seen(drv) -> str | bool:
        text = "\n".join(
            element.get_attribute("textContent") or "" for element in drv.find_elements(By.CSS_SELECTOR, css)
        )
        return text if all(wanted in text for wanted in texts) else False

    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=0.5).until(seen)
    except TimeoutException:
        shown = "\n".join(e.get_attribute("textContent") or "" for e in driver.find_elements(By.CSS_SELECTOR, css))
        missing = [wanted for wanted in texts if wanted not in shown]
        pytest.fail(
            f"{driver.current_url}: {missing} not shown in '{css}' within {timeout_s:.0f} s. "
            f"Page text starts: {shown[:1500]!r}"
        )
