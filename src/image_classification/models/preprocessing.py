"""A serialisable layer applying a backbone's own ``preprocess_input``, so normalisation lives inside the model."""

from __future__ import annotations

from typing import Any

import keras

from image_classification.models.backbones import get_backbone_spec


@keras.saving.register_keras_serializable(package="image_classification")
class BackbonePreprocessing(keras.layers.Layer):
    """Maps 0..255 RGB images to what backbone ``backbone_name`` was trained on (e.g. -1..1, or BGR minus mean).

    A named layer instead of a ``Lambda`` so saved models load without ``safe_mode=False``; the function is looked up
    in the registry from the name stored in the config. Keras 3's ``preprocess_input`` functions use ``keras.ops`` on
    tensors, so this runs on every backend.

    Args:
        backbone_name: Registry name (see ``backbones.BACKBONES``).
        **kwargs: Standard layer arguments (``name``, ``dtype``...).
    """

    def __init__(self, backbone_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._preprocess_input = get_backbone_spec(backbone_name).preprocess_input
        self.backbone_name = backbone_name

    def call(self, inputs: Any) -> Any:
        return self._preprocess_input(keras.ops.cast(inputs, self.compute_dtype))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "backbone_name": self.backbone_name}
