"""The Model Registry: a run's best model by validation accuracy becomes a version; the alias moves only when it is
truly better.

The test split only reports: the model registered, and whether the alias moves, are decided by validation accuracy
(the validation split, or the inner cross-validation of train + validation for a linear head). Accuracies are
comparable only on the same split, so every version carries the fingerprint of the test split it was scored on (tag
``test_split``, from the report's ``report.test_split``; the same split settings give the same validation split), its
``validation_accuracy`` and, for the record, its ``test_accuracy``. The alias (``champion``) moves to the new version
when nobody holds it, or when the holder was scored on the same split and the new version has a strictly better
validation accuracy. On another split the two are not compared and the alias stays: a
different split cannot show the holder to be worse (new images, another profile, other classes), and a silently
moving alias would swap the served model for one measured on something else. The log and the version's
``champion_decision`` tag say so, and ``MlflowClient().set_registered_model_alias`` moves it by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """A model logged in a child run: its namespace, run, ``models:/`` URI, validation and test accuracy."""

    namespace: str
    run_id: str
    model_uri: str
    validation_accuracy: float
    test_accuracy: float


def alias_decision(holder: Any, validation_accuracy: float, test_split: str | None) -> tuple[bool, str]:
    """Whether a new version with ``validation_accuracy`` on ``test_split`` takes the alias from ``holder``, and why.

    Args:
        holder: The ``ModelVersion`` holding the alias, or None.
        validation_accuracy: The new version's validation accuracy.
        test_split: The fingerprint of the split it was scored on.
    """
    if holder is None:
        return True, "no version held the alias"
    tags = holder.tags or {}
    held_split, held_accuracy = tags.get("test_split"), tags.get("validation_accuracy")
    if not test_split or held_split != test_split or held_accuracy is None:
        return False, (
            f"not compared: version {holder.version} was scored on test split {held_split}, this one on "
            f"{test_split}; the alias stays"
        )
    if validation_accuracy > float(held_accuracy) + 1e-9:  # equal (up to float noise) is not better
        return True, (
            f"validation accuracy {validation_accuracy:.4f} beats version {holder.version}'s {float(held_accuracy):.4f}"
        )
    return False, (
        f"validation accuracy {validation_accuracy:.4f} does not beat version {holder.version}'s "
        f"{float(held_accuracy):.4f} on the same split"
    )


def champion_candidate(candidates: list[Candidate]) -> Candidate:
    """The candidate with the best validation accuracy; ties go to the first namespace alphabetically. Test
    accuracies are not read."""
    return max(sorted(candidates, key=lambda c: c.namespace), key=lambda c: c.validation_accuracy)


def register_best_model(client, parent_run_id: str, candidates: list[Candidate], settings, test_split: str | None):
    """Registers the candidate with the best validation accuracy under ``settings.model_name`` and moves
    ``settings.alias`` if it wins.

    Ties go to the first namespace alphabetically. The parent run gets the tags ``best_model``,
    ``registered_model`` (``<name>/<version>``) and ``champion_decision``, and the metrics
    ``best_validation_accuracy`` and ``best_test_accuracy`` (the chosen model's, reported).

    Returns:
        The new ``ModelVersion``.
    """
    import mlflow  # noqa: PLC0415
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    best = champion_candidate(candidates)
    try:
        holder = client.get_model_version_by_alias(settings.model_name, settings.alias)
    except MlflowException:
        holder = None
    tags = {
        "namespace": best.namespace,
        "validation_accuracy": repr(float(best.validation_accuracy)),  # every digit: a rounded tag would look beaten
        "test_accuracy": f"{best.test_accuracy:.6f}",
    }
    if test_split:
        tags["test_split"] = test_split
    version = mlflow.register_model(best.model_uri, settings.model_name, tags=tags)
    takes, reason = alias_decision(holder, best.validation_accuracy, test_split)
    if takes:
        client.set_registered_model_alias(settings.model_name, settings.alias, version.version)
    decision = f"{settings.alias} {'moved to' if takes else 'kept by ' + str(holder.version) + ', not'} " \
        f"version {version.version}: {reason}"
    client.set_model_version_tag(settings.model_name, version.version, "champion_decision", decision)
    client.set_tag(parent_run_id, "best_model", best.namespace)
    client.set_tag(parent_run_id, "registered_model", f"{settings.model_name}/{version.version}")
    client.set_tag(parent_run_id, "champion_decision", decision)
    client.log_metric(parent_run_id, "best_validation_accuracy", best.validation_accuracy)
    client.log_metric(parent_run_id, "best_test_accuracy", best.test_accuracy)
    # Information, not a warning: a kept champion is the registry doing its job (the decision is also a tag).
    logger.info("Registered %s as %s version %s; %s.", best.namespace, settings.model_name, version.version, decision)
    return version
