# Two entry points for a fresh clone (no internet needed beyond PyPI):
#   make run   - create .venv, install, and `kedro run` every pipeline on the bundled paintings (ImageNet weights bundled)
#   make test  - create .venv, install, lint (ruff) and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

export KEDRO_DISABLE_TELEMETRY := true
export TF_CPP_MIN_LOG_LEVEL ?= 2
MLFLOW_PORT ?= 5000

.PHONY: install run test viz mlflow-ui clean

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
	$(BIN)/pytest -n 2 --dist loadfile   # two workers, whole files each (module fixtures run once)

viz: install
	$(BIN)/kedro viz run

# One uvicorn worker and no background job runner: a light server for one user (MLflow's defaults start 4
# workers plus a job runner, about 15 processes).
mlflow-ui: install
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db \
		--host 127.0.0.1 --port $(MLFLOW_PORT) --workers 1

clean:
	rm -rf $(VENV)
