"""Comparative reporting of trained models, free of Kedro so it can be used from notebooks too.

Modules: ``metrics`` (scores from probabilities), ``statistics`` (bootstrap intervals, McNemar's test),
``comparison`` (tables across models and strategies), ``figures`` (matplotlib figures) and ``render``
(Markdown and self-contained HTML report).
"""
