# Two entry points for a fresh clone (no internet needed beyond PyPI):
#   make run   - create .venv, install, and `kedro run` every pipeline on the bundled paintings (ImageNet weights bundled)
#   make test  - create .venv, install, lint (ruff) and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

export KEDRO_DISABLE_TELEMETRY := true
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install run test viz mlflow-ui clean

$(BIN)/kedro: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

install: $(BIN)/kedro

run: install
	$(BIN)/kedro run

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest

viz: install
	$(BIN)/kedro viz run

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1

clean:
	rm -rf $(VENV)
