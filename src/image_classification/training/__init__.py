"""The training library: settings, compiling, the fit loop, batches, resume state and multi-device training.

Knows nothing of Kedro: the ``scratch``, ``transfer`` and ``finetune`` pipelines call ``train_model``.
"""

from image_classification.training.compile import OPTIMIZERS, compile_model
from image_classification.training.fit import (
    BACKUP_DIR,
    BEST_MODEL_FILE,
    balanced_class_weights,
    fit_model,
    train_model,
)
from image_classification.training.settings import (
    TrainingSettings,
    check_training_blocks,
    merge_training_config,
    training_block_names,
)

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
