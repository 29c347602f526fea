# lerobot-ros: the commands a user runs. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
ENV := source scripts/env.sh &&

.PHONY: setup setup-reference lint format test demo clean

setup:
	scripts/setup.sh

setup-reference:
	scripts/setup.sh --with-reference

lint: setup
	$(ENV) ruff format --check . && ruff check .

format: setup
	$(ENV) ruff format . && ruff check --fix .

# Lint, then every package's tests and the integration tests. pytest's exit code 5
# (nothing collected) fails like any other failure.
test: setup-reference
	$(ENV) ruff format --check . && ruff check .
	$(ENV) python -m pytest

# The whole workflow on simulated hardware: record a dataset, then roll out a policy on it.
demo: setup
	$(ENV) lerobot-ros demo

clean:
	rm -rf build install log
