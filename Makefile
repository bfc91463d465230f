# Two entry points for a fresh clone (no internet needed beyond PyPI):
#   make run   - create .venv, install, and `kedro run` every pipeline on the bundled paintings (ImageNet weights bundled)
#   make test  - create .venv, install, lint (ruff) and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

export KEDRO_DISABLE_TELEMETRY := true
export TF_CPP_MIN_LOG_LEVEL ?= 2
MLFLOW_PORT ?= 5000

.PHONY: install run test viz mlflow-ui clean tracking-server tracking-server-stop airflow-venv airflow-dag

# Reinstall only when the dependencies change: the stamp is named after a hash of the [project] table of
# pyproject.toml (dependencies and extras) and constraints.txt, so edits to tool settings there reinstall nothing.
DEPENDENCIES_HASH := $(shell sed -n '/^\[project\]/,/^\[tool/p' pyproject.toml | cat - constraints.txt | cksum | cut -d' ' -f1)
INSTALLED := $(VENV)/.installed-$(DEPENDENCIES_HASH)

$(INSTALLED):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test,notebook]"
	rm -f $(VENV)/.installed-*
	touch $@

install: $(INSTALLED)

run: install
	$(BIN)/kedro run

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -n 2 --dist loadfile --durations=15   # two workers, whole files each (module fixtures run once); the slowest tests listed

viz: install
	$(BIN)/kedro viz run

# One uvicorn worker and no background job runner: a light server for one user (MLflow's defaults start 4
# workers plus a job runner, about 15 processes).
mlflow-ui: install
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db \
		--host 127.0.0.1 --port $(MLFLOW_PORT) --workers 1

# Scale-out (docs/scale_out.md); none of it is needed by `run` or `test`.
# A throw-away PostgreSQL + MLflow server for `kedro run --env server`: prints `export MLFLOW_TRACKING_URI=...`.
SERVICES_DIR ?= /tmp/image-classification-services
tracking-server: install
	$(BIN)/pip install --quiet -c constraints.txt -e ".[server]"
	$(BIN)/python -m deploy.tracking_server start --state $(SERVICES_DIR)

tracking-server-stop:
	$(BIN)/python -m deploy.tracking_server stop --state $(SERVICES_DIR)

# Airflow 3 + the project in their own environment (Airflow pins an older fastapi than constraints.txt).
AIRFLOW_VENV ?= .venv-airflow
AIRFLOW_INSTALLED := $(AIRFLOW_VENV)/.installed-$(shell cat pyproject.toml constraints-airflow.txt 2>/dev/null | cksum | cut -d' ' -f1)

$(AIRFLOW_INSTALLED):
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet --upgrade "pip>=24"
	$(AIRFLOW_VENV)/bin/pip install --quiet -c constraints-airflow.txt -e ".[airflow]"
	rm -f $(AIRFLOW_VENV)/.installed-*
	touch $@

airflow-venv: $(AIRFLOW_INSTALLED)

# PostgreSQL + MLflow server + Airflow (LocalExecutor, parallelism 2), one DAG run end to end, then all stopped.
airflow-dag: airflow-venv
	$(AIRFLOW_VENV)/bin/python -m deploy.airflow_local

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV)
