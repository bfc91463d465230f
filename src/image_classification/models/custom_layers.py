"""Importing this module registers the project's custom Keras layers, so that saved models load in a fresh process.

Kept out of ``models/__init__.py``: importing any settings module of the package (as pipeline registration does)
must not import Keras.
"""

from image_classification.models import augmentation, preprocessing, random_affine  # noqa: F401
