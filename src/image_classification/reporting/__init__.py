"""Comparative reporting of trained models, free of Kedro so it can be used from notebooks too.

Modules: ``metrics`` (scores from probabilities), ``statistics`` (bootstrap intervals, McNemar's test),
``comparison`` (tables across models and strategies), ``figures`` (matplotlib figures), ``sections`` (what the
report says, as format-neutral sections) and ``render`` (those sections as Markdown and as self-contained HTML).
"""
