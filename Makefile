# Two commands: `make run` (set up and serve on SQLite with the demo feed) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test test-only venv peers bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

run: venv
	$(PY) app.py init-db
	$(PY) app.py serve --host $${HOST:-127.0.0.1} --port $${PORT:-8050}

peers:
	bash scripts/install-test-peers.sh

test: venv peers test-only

test-only:
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
