"""Project settings: hooks and configuration loader."""

from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.utils import find_kedro_project

from image_classification.project.errors import PlainErrorsHook, short_errors
from image_classification.project.hooks import (
    CredentialsToEnvironmentHook,
    DistributionHook,
    ModelPlanHook,
    RunChecksHook,
    SettingsParamsHook,
)
from image_classification.project.mlflow_runs import MlflowRunsHook
from image_classification.project.mlflow_store_guard import MlflowStoreHook

# kedro-mlflow's hook is registered automatically through its plugin entry point.
HOOKS = (ModelPlanHook(), CredentialsToEnvironmentHook(), MlflowRunsHook(), RunChecksHook(), DistributionHook(),
         MlflowStoreHook(), PlainErrorsHook(), SettingsParamsHook())
# The project's own errors end with their message; the traceback goes to logs/last_error.log (project/errors.py).
short_errors()


def project_root() -> str:
    """The Kedro project the current folder is in (the folder itself outside one), for ``${project_root:}`` in
    configuration: kedro-mlflow keeps ``sqlite:///`` paths relative to the current folder, so a session started in
    ``notebooks/`` would otherwise open an empty ``notebooks/mlflow.db``."""
    return str(find_kedro_project(Path.cwd()) or Path.cwd())


CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"]},
    # A profile (conf/<env>/) overrides single keys such as ingest.source without restating the rest.
    "merge_strategy": {"parameters": "soft"},
    "custom_resolvers": {"project_root": project_root},
}
