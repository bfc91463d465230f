"""Tests for the project hooks that do not need a whole run."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kedro.config import OmegaConfigLoader

from image_classification.project.hooks import CredentialsToEnvironmentHook

KAGGLE_VARIABLES = ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN")


@pytest.fixture
def project(tmp_path, monkeypatch):
    for variable in KAGGLE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for env in ("base", "local", "artworks"):
        (tmp_path / "conf" / env).mkdir(parents=True)
    (tmp_path / "conf" / "local" / "credentials.yml").write_text("kaggle:\n  username: someone\n  key: s3cr3t\n")
    return tmp_path


def _context(project, env):
    loader = OmegaConfigLoader(conf_source=str(project / "conf"), env=env, base_env="base", default_run_env="local")
    return SimpleNamespace(project_path=project, config_loader=loader)


@pytest.mark.parametrize("env", ["local", "artworks"])
def test_kaggle_credentials_in_conf_local_reach_the_client_also_when_a_profile_runs(project, env, monkeypatch):
    import os

    CredentialsToEnvironmentHook().after_context_created(_context(project, env))
    assert os.environ["KAGGLE_USERNAME"] == "someone"
    assert os.environ["KAGGLE_KEY"] == "s3cr3t"
    for variable in KAGGLE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def test_credentials_already_in_the_environment_win(project, monkeypatch):
    import os

    monkeypatch.setenv("KAGGLE_KEY", "from-the-shell")
    CredentialsToEnvironmentHook().after_context_created(_context(project, "local"))
    assert os.environ["KAGGLE_KEY"] == "from-the-shell"
