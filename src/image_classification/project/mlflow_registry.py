"""The Model Registry: a run's most accurate model becomes a version; the alias moves only when it is truly better.

Accuracies are comparable only on the same test images, so every version carries the fingerprint of the test split
it was scored on (tag ``test_split``, from the report's ``report.test_split``) and its ``test_accuracy``. The alias
(``champion``) moves to the new version when nobody holds it, or when the holder was scored on the same split and
the new version is strictly more accurate. On another split the two are not compared and the alias stays: a
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
    """A model logged in a child run: its namespace, run, ``models:/`` URI and test accuracy."""

    namespace: str
    run_id: str
    model_uri: str
    test_accuracy: float


def alias_decision(holder: Any, test_accuracy: float, test_split: str | None) -> tuple[bool, str]:
    """Whether a new version scored ``test_accuracy`` on ``test_split`` takes the alias from ``holder``, and why.

    Args:
        holder: The ``ModelVersion`` holding the alias, or None.
        test_accuracy: The new version's test accuracy.
        test_split: The fingerprint of the split it was scored on.
    """
    if holder is None:
        return True, "no version held the alias"
    tags = holder.tags or {}
    held_split, held_accuracy = tags.get("test_split"), tags.get("test_accuracy")
    if not test_split or held_split != test_split or held_accuracy is None:
        return False, (
            f"not compared: version {holder.version} was scored on test split {held_split}, this one on "
            f"{test_split}; the alias stays"
        )
    if test_accuracy > float(held_accuracy):
        return True, f"test accuracy {test_accuracy:.4f} beats version {holder.version}'s {float(held_accuracy):.4f}"
    return False, (
        f"test accuracy {test_accuracy:.4f} does not beat version {holder.version}'s {float(held_accuracy):.4f} "
        "on the same test split"
    )


def register_best_model(client, parent_run_id: str, candidates: list[Candidate], settings, test_split: str | None):
    """Registers the most accurate candidate under ``settings.model_name`` and moves ``settings.alias`` if it wins.

    Ties go to the first namespace alphabetically. The parent run gets the tags ``best_model``,
    ``registered_model`` (``<name>/<version>``) and ``champion_decision``, and the metric ``best_test_accuracy``.

    Returns:
        The new ``ModelVersion``.
    """
    import mlflow  # noqa: PLC0415
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    best = max(sorted(candidates, key=lambda c: c.namespace), key=lambda c: c.test_accuracy)
    try:
        holder = client.get_model_version_by_alias(settings.model_name, settings.alias)
    except MlflowException:
        holder = None
    tags = {"namespace": best.namespace, "test_accuracy": f"{best.test_accuracy:.6f}"}
    if test_split:
        tags["test_split"] = test_split
    version = mlflow.register_model(best.model_uri, settings.model_name, tags=tags)
    takes, reason = alias_decision(holder, best.test_accuracy, test_split)
    if takes:
        client.set_registered_model_alias(settings.model_name, settings.alias, version.version)
    decision = f"{settings.alias} {'moved to' if takes else 'kept by ' + str(holder.version) + ', not'} " \
        f"version {version.version}: {reason}"
    client.set_model_version_tag(settings.model_name, version.version, "champion_decision", decision)
    client.set_tag(parent_run_id, "best_model", best.namespace)
    client.set_tag(parent_run_id, "registered_model", f"{settings.model_name}/{version.version}")
    client.set_tag(parent_run_id, "champion_decision", decision)
    client.log_metric(parent_run_id, "best_test_accuracy", best.test_accuracy)
    (logger.info if takes or holder is None else logger.warning)(
        "Registered %s as %s version %s; %s.", best.namespace, settings.model_name, version.version, decision
    )
    return version
