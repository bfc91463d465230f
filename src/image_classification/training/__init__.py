"""The training library: settings, compiling, the fit loop, batches, resume state and multi-device training.

Knows nothing of Kedro: the ``scratch``, ``transfer`` and ``finetune`` pipelines call ``train_model``.

The settings are imported with the package; the Keras parts (``compile``, ``fit``) only when one of their names is
first used, so that importing ``image_classification.training.settings`` (the run checks, the pipelines' wiring)
does not start a Keras backend.
"""

from __future__ import annotations

from image_classification.config.lazy import lazy_exports
from image_classification.training.settings import (
    TrainingSettings,
    check_training_blocks,
    merge_training_config,
    training_block_names,
)

#: Names exported from the Keras modules, imported on first use (PEP 562).
_LAZY = {
    "OPTIMIZERS": "compile",
    "compile_model": "compile",
    "BACKUP_DIR": "fit",
    "BEST_MODEL_FILE": "fit",
    "balanced_class_weights": "fit",
    "fit_model": "fit",
    "train_model": "fit",
}

__all__ = [
    "BACKUP_DIR",
    "BEST_MODEL_FILE",
    "OPTIMIZERS",
    "TrainingSettings",
    "balanced_class_weights",
    "check_training_blocks",
    "compile_model",
    "fit_model",
    "merge_training_config",
    "train_model",
    "training_block_names",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
