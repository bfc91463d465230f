"""The served model as code: MLflow's models-from-code logs this file and runs it when the model is loaded.

A file rather than a pickled ``ImageClassifierModel()``: MLflow warns that a cloudpickled object is code run on
load, and a file says plainly what runs. The class itself is in ``models/serving.py``.
"""

from mlflow.models import set_model

from image_classification.models.serving import ImageClassifierModel

set_model(ImageClassifierModel())
