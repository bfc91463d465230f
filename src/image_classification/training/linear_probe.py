"""Multinomial logistic regression on frozen backbone features, its regularisation chosen by inner cross-validation.

The CLIP paper's linear probe: L-BFGS logistic regression on standardised features, with the inverse regularisation
strength ``C`` swept over a log grid on held-out data. Here the held-out data are the folds of a stratified inner
cross-validation of the images the probe learns from, so no choice reads the test split. Used twice:

* the ``baseline`` row of every report (``baseline.linear_probe.<backbone>``): the floor a transfer head must meet;
* the transfer head itself (``head.fit: lbfgs``): the same fit, written into the Keras head's Dense layer
  (``linear_head_weights``), so the head converges and is regularised by a setting chosen on training data only.

scikit-learn only: no Keras here. Its settings, ``LinearProbeSettings``, live in ``training.settings`` (re-exported
here), so the nodes annotated with them import without scikit-learn.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from image_classification.training.settings import DEFAULT_C_VALUES, LinearProbeSettings

__all__ = ["DEFAULT_C_VALUES", "LinearProbeSettings", "RegularisationSearch", "fit_logistic_regression",
           "linear_head_weights", "search_regularisation", "tuned_logistic_regression"]  # fmt: skip


@dataclass(frozen=True)
class RegularisationSearch:
    """The inner cross-validation of every ``C``: mean held-out accuracy and log loss, in the order of ``c_values``."""

    c_values: tuple[float, ...]
    cv_accuracy: tuple[float, ...]
    cv_log_loss: tuple[float, ...]
    folds: int

    def best_by_accuracy(self) -> int:
        """Index of the most accurate ``C``; ties go to the smallest ``C`` (the most regularised)."""
        return int(np.argmax(self.cv_accuracy))

    def best_by_accuracy_then_log_loss(self) -> int:
        """Index of the most accurate ``C``; ties go to the lowest held-out log loss (better calibrated)."""
        return min(range(len(self.c_values)), key=lambda i: (-self.cv_accuracy[i], self.cv_log_loss[i]))

    def as_history(self) -> dict[str, list[float]]:
        """The search as a history dict (one point per ``C``) for the learning-curves figure and MLflow."""
        return {
            "C": list(self.c_values),
            "cv_accuracy": list(self.cv_accuracy),
            "cv_log_loss": list(self.cv_log_loss),
        }


def _logistic_regression(c_value: float, max_iter: int) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c_value, max_iter=max_iter))


def _fit(model: Pipeline, features: np.ndarray, labels: np.ndarray) -> Pipeline:
    # One BLAS thread: these matrices are small, and more threads than free cores make a fit 50x slower.
    with threadpool_limits(1), warnings.catch_warnings():
        # A C large enough to stop short of convergence is simply scored worse by the inner folds.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(features, labels)


def search_regularisation(
    features: np.ndarray, labels: np.ndarray, settings: LinearProbeSettings
) -> RegularisationSearch:
    """Scores every ``C`` of ``settings`` by stratified inner cross-validation on ``features``.

    Args:
        features: (N, D) float features of the images the probe learns from.
        labels: (N,) class indices.
        settings: The grid, the number of folds, the iteration limit and the seed.

    Returns:
        Mean held-out accuracy and log loss per ``C``. With a class of a single image no fold can hold it out:
        every score is NaN and ``folds`` is 0.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    smallest = int(np.bincount(np.searchsorted(classes, labels)).min())
    folds = min(settings.inner_folds, smallest)
    c_values = settings.c_values
    if folds < 2:
        nan = tuple(float("nan") for _ in c_values)
        return RegularisationSearch(c_values, nan, nan, 0)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=settings.seed)
    accuracy = np.zeros((folds, len(c_values)))
    losses = np.zeros((folds, len(c_values)))
    for fold, (fit_rows, held_rows) in enumerate(splitter.split(features, labels)):
        for index, c_value in enumerate(c_values):
            model = _fit(_logistic_regression(c_value, settings.max_iter), features[fit_rows], labels[fit_rows])
            probabilities = model.predict_proba(features[held_rows])
            predicted = model.classes_[probabilities.argmax(axis=1)]
            accuracy[fold, index] = float(np.mean(predicted == labels[held_rows]))
            losses[fold, index] = log_loss(labels[held_rows], probabilities, labels=model.classes_)
    return RegularisationSearch(
        c_values, tuple(accuracy.mean(axis=0).tolist()), tuple(losses.mean(axis=0).tolist()), folds
    )


def fit_logistic_regression(
    features: np.ndarray, labels: np.ndarray, c_value: float, settings: LinearProbeSettings
) -> Pipeline:
    """Standardisation then multinomial L-BFGS logistic regression at ``c_value``, fitted on every image given."""
    return _fit(_logistic_regression(c_value, settings.max_iter), features, np.asarray(labels))


def tuned_logistic_regression(
    features: np.ndarray, labels: np.ndarray, settings: LinearProbeSettings, *, tie_break: str = "smallest_c"
) -> tuple[Pipeline, RegularisationSearch, dict[str, Any]]:
    """``search_regularisation``, then the chosen ``C`` refitted on all of ``features``.

    Args:
        features: (N, D) features of every image the model learns from (train + validation).
        labels: (N,) class indices.
        settings: Grid, folds, iterations, seed.
        tie_break: Among equally accurate ``C``: ``smallest_c`` (scikit-learn's ``GridSearchCV``: the first, most
            regularised, one) or ``log_loss`` (the lowest held-out log loss).

    Returns:
        The fitted scikit-learn pipeline, the search, and a summary: ``C``, ``inner_cv_accuracy`` (the held-out
        estimate the validation split would otherwise give), ``inner_folds``, ``fit_time_s``.
    """
    started = time.perf_counter()
    search = search_regularisation(features, labels, settings)
    if search.folds == 0:
        best = settings.c_values.index(min(settings.c_values, key=lambda c: abs(np.log10(c))))  # C closest to 1
    elif tie_break == "log_loss":
        best = search.best_by_accuracy_then_log_loss()
    else:
        best = search.best_by_accuracy()
    c_value = search.c_values[best]
    model = fit_logistic_regression(features, labels, c_value, settings)
    summary = {
        "C": float(c_value),
        "inner_cv_accuracy": float(search.cv_accuracy[best]),
        "inner_folds": search.folds,
        "fit_time_s": round(time.perf_counter() - started, 3),
    }
    return model, search, summary


def linear_head_weights(model: Pipeline, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The kernel (D, num_classes) and bias (num_classes,) of one Dense softmax layer computing ``model``.

    The standardisation is folded into the weights: ``((x - mean) / scale) @ W + b = x @ (W / scale) + b -
    (mean / scale) @ W``. A class the model never saw gets a bias far below the others (probability ~0).
    """
    scaler, regression = model.named_steps["standardscaler"], model.named_steps["logisticregression"]
    coef, intercept = regression.coef_, regression.intercept_
    if coef.shape[0] == 1:  # scikit-learn stores a binary problem as one row: logits (-z/2, z/2) give the same softmax
        coef = np.vstack([-coef / 2, coef / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    kernel = np.zeros((coef.shape[1], num_classes), dtype=np.float64)
    bias = np.full(num_classes, -1e4, dtype=np.float64)
    scale = scaler.scale_
    for row, class_index in enumerate(regression.classes_.astype(int)):
        kernel[:, class_index] = coef[row] / scale
        bias[class_index] = intercept[row] - float(np.dot(scaler.mean_ / scale, coef[row]))
    return kernel.astype(np.float32), bias.astype(np.float32)
