"""Model builders: from-scratch CNNs (scratch), augmentation layers, pretrained backbones and heads."""

# Registers the project's custom layers so saved models load in a fresh process.
from image_classification.models import augmentation, preprocessing  # noqa: F401
