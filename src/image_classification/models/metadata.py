"""What a trained classifier must carry to be used safely: its class names, input size and training data.

A model's output ``i`` only means something with the class list it was trained on. ``class_names.json`` and the
arrays are versioned apart from the model, so after a new split the latest ``class_names`` may belong to other
data. The training nodes therefore attach a ``ModelMetadata`` to each model (``attach_metadata``);
``datasets.KerasModelDataset`` writes it into the ``.keras`` file as the zip entry ``image_classification.json``
and attaches it again on load, with the file it came from (``model_source``). Predicting then uses the model's own
class names, and evaluating refuses a model whose class names differ from the test arrays' class list.

Models saved before this carry none: they still work, with a warning, checked only by their number of outputs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

#: The zip entry of a ``.keras`` file that holds the metadata (Keras ignores entries it does not know).
METADATA_ENTRY = "image_classification.json"
FORMAT_VERSION = 1
_METADATA_ATTRIBUTE = "_image_classification_metadata"
_SOURCE_ATTRIBUTE = "_image_classification_source"


@dataclass(frozen=True)
class ModelMetadata:
    """What a trained classifier was trained on.

    Attributes:
        class_names: The class of each output, in order.
        image_size: Side in pixels of the square images the model takes (the preprocess size it was trained at).
        namespace: ``<strategy>.<model>`` it was trained as, e.g. ``transfer.mobilenet_v2``.
        data_fingerprint: Hash of the arrays it was fit on and of ``class_names`` (``training.data_fingerprint``);
            None before training.
    """

    class_names: tuple[str, ...]
    image_size: int | None
    namespace: str | None = None
    data_fingerprint: str | None = None

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT_VERSION, **asdict(self), "class_names": list(self.class_names)}, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelMetadata:
        """Reads ``to_json``'s text.

        Raises:
            ValueError: Not JSON, or without a list of unique class names.
        """
        try:
            values = json.loads(text)
            names = values["class_names"]
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{METADATA_ENTRY} is not valid model metadata: {error!r}") from error
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
            raise ValueError(f"{METADATA_ENTRY}: class_names must be a list of unique strings, got {names!r}.")
        size = values.get("image_size")
        return cls(
            class_names=tuple(names),
            image_size=int(size) if size is not None else None,
            namespace=values.get("namespace"),
            data_fingerprint=values.get("data_fingerprint"),
        )


def input_image_size(model: keras.Model) -> int | None:
    """Side of the square images ``model`` takes, from its input shape (None when not fixed or not square)."""
    shape = tuple(model.input_shape[1:3])
    return int(shape[0]) if len(shape) == 2 and shape[0] is not None and shape[0] == shape[1] else None


def training_metadata(
    model: keras.Model, class_names: Sequence[str], namespace: str | None = None, data_fingerprint: str | None = None
) -> ModelMetadata:
    """The metadata of ``model`` trained (or to be trained) on ``class_names``.

    Raises:
        ValueError: The model's number of outputs is not the number of class names.
    """
    outputs = int(model.output_shape[-1])
    if outputs != len(class_names):
        raise ValueError(
            f"The model {namespace or model.name} has {outputs} outputs but class_names lists {len(class_names)} "
            f"classes {list(class_names)}: build it for this class list."
        )
    return ModelMetadata(tuple(str(n) for n in class_names), input_image_size(model), namespace, data_fingerprint)


def attach_metadata(model: keras.Model, metadata: ModelMetadata) -> keras.Model:
    """Attaches ``metadata`` to ``model`` (saved with it by ``KerasModelDataset``); returns the model."""
    object.__setattr__(model, _METADATA_ATTRIBUTE, metadata)  # a plain attribute: Keras tracks nothing here
    return model


def model_metadata(model: keras.Model) -> ModelMetadata | None:
    """The metadata attached to ``model``, or None (a model saved before metadata existed, or built elsewhere)."""
    metadata = getattr(model, _METADATA_ATTRIBUTE, None)
    return metadata if isinstance(metadata, ModelMetadata) else None


def set_model_source(model: keras.Model, source: str) -> None:
    """Records the file (and so the version) ``model`` was loaded from, for messages."""
    object.__setattr__(model, _SOURCE_ATTRIBUTE, source)


def model_source(model: keras.Model) -> str | None:
    """The file ``model`` was loaded from (``set_model_source``), or None for a model built in this process."""
    return getattr(model, _SOURCE_ATTRIBUTE, None)


def describe_model(model: keras.Model) -> str:
    """``'scratch.basenet' (data/06_models/scratch/basenet.keras/<version>/basenet.keras)``, as far as known."""
    metadata, source = model_metadata(model), model_source(model)
    name = f"'{metadata.namespace}'" if metadata and metadata.namespace else f"'{model.name}'"
    return f"{name} ({source})" if source else name


def _no_metadata_warning(model: keras.Model, class_names: Sequence[str], purpose: str) -> None:
    logger.warning(
        "The model %s carries no class names (saved before models recorded them): %s trusts class_names "
        "%s, checked only by their number. Retrain the model to record its classes.",
        describe_model(model), purpose, _short(class_names),
    )


def _short(names: Sequence[str], most: int = 12) -> str:
    shown = ", ".join(map(str, list(names)[:most]))
    return f"[{shown}{', ...' if len(names) > most else ''}] ({len(names)} classes)"


def _check_count(model: keras.Model, class_names: Sequence[str]) -> None:
    outputs = int(model.output_shape[-1])
    if outputs != len(class_names):
        raise ValueError(
            f"The model {describe_model(model)} predicts {outputs} classes but class_names lists {len(class_names)}: "
            "they come from different runs. Pick matching versions with --load-versions (model and class_names) "
            "or retrain."
        )


def class_names_for_prediction(model: keras.Model, class_names: Sequence[str]) -> list[str]:
    """The class names to label ``model``'s outputs with: its own, whatever ``class_names`` says.

    Args:
        model: The trained classifier.
        class_names: The current ``class_names`` (used only for a model that carries none).

    Returns:
        The model's class names; ``class_names`` for a model without metadata (with a warning).

    Raises:
        ValueError: A model without metadata whose number of outputs differs from ``class_names``.
    """
    metadata = model_metadata(model)
    if metadata is None:
        _no_metadata_warning(model, class_names, "predicting")
        _check_count(model, class_names)
        return list(class_names)
    if list(metadata.class_names) != list(class_names):
        logger.warning(
            "The model %s was trained on classes %s, but the current class_names lists %s (a later split): "
            "labelling with the model's own classes.",
            describe_model(model), _short(metadata.class_names), _short(class_names),
        )
    return list(metadata.class_names)


def check_model_classes(model: keras.Model, class_names: Sequence[str], what: str, fix: str) -> None:
    """Refuses ``model`` when it was trained on other classes than ``class_names``.

    Args:
        model: The trained classifier.
        class_names: The class list the data at hand is labelled with.
        what: Names that data in the message, e.g. ``"images_test"``.
        fix: What to do about a mismatch, e.g. ``"Retrain it (kedro run --pipelines scratch)"``.

    Raises:
        ValueError: Naming the model (namespace and file), both class lists and ``fix``.
    """
    metadata = model_metadata(model)
    if metadata is None:
        _no_metadata_warning(model, class_names, f"using it on {what}")
        _check_count(model, class_names)
        return
    if list(metadata.class_names) != list(class_names):
        fingerprint = f", data fingerprint {metadata.data_fingerprint[:12]}" if metadata.data_fingerprint else ""
        raise ValueError(
            f"The model {describe_model(model)} was trained on classes {_short(metadata.class_names)}{fingerprint}, "
            f"but {what} is labelled with class_names {_short(class_names)}: another split or data set. {fix}, or "
            "pick matching versions with --load-versions <namespace>.model:<version>,class_names:<version>."
        )


def check_image_size(model: keras.Model, images_shape: Sequence[int], what: str, fix: str) -> None:
    """Refuses images of another size than ``model`` takes.

    Raises:
        ValueError: Naming the model, both sizes and ``fix``.
    """
    expected = tuple(model.input_shape[1:3])
    actual = tuple(images_shape[1:3])
    if len(actual) == 2 and all(e is not None for e in expected) and actual != expected:
        raise ValueError(
            f"The model {describe_model(model)} takes {expected[0]}x{expected[1]} images but {what} holds "
            f"{actual[0]}x{actual[1]} ones (shape {tuple(images_shape)}). {fix}"
        )



def check_evaluation_inputs(model: keras.Model, class_names: Sequence[str], images_shape: Sequence[int]) -> None:
    """Refuses to score ``model`` on test arrays of other classes or another image size (the report's check).

    Raises:
        ValueError: Naming the model (namespace and file) and both class lists or both sizes.
    """
    check_model_classes(
        model, class_names, "images_test",
        "Retrain the model on this split (kedro run --pipelines <strategy>), or evaluate it on its own split",
    )
    check_image_size(
        model, images_shape, "images_test",
        "Re-run preprocess at the model's size (--params preprocess.image_size=<size>) or retrain the model.",
    )
