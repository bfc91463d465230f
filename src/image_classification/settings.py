"""Project settings: hooks and configuration loader."""

from kedro.config import OmegaConfigLoader

from image_classification.hooks import (
    CredentialsToEnvironmentHook,
    DistributionHook,
    MlflowArtifactsHook,
    ModelPlanHook,
)
from image_classification.run_checks import RunChecksHook

# kedro-mlflow's hook is registered automatically through its plugin entry point.
HOOKS = (ModelPlanHook(), CredentialsToEnvironmentHook(), MlflowArtifactsHook(), RunChecksHook(), DistributionHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"]},
    # A profile (conf/<env>/) overrides single keys such as ingest.source without restating the rest.
    "merge_strategy": {"parameters": "soft"},
}
