"""Model builders: from-scratch CNNs (scratch), augmentation layers, pretrained backbones and heads.

Saved models need the custom layers registered: import ``image_classification.models.custom_layers`` first.
"""
