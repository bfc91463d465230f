"""Throw-away services for the scale-out path (docs/scale_out.md): PostgreSQL, an MLflow tracking server, Airflow.

Nothing in the package ``image_classification`` imports this folder; ``make run`` and ``make test`` do not need it.
"""
