"""MLflow tracking of the trained models: one child run per model under the active (parent) run, the servable
MLflow model of each, and the Model Registry's champion. Called by the report's ``log_model_runs`` node."""
