# Jiesu — one Makefile for a newcomer, CI and admins. Needs only Python 3.11 and PyPI.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAGE  ?= dev

.PHONY: run test install package deploy eval-dedup eval-dispatch bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip<26.3" wheel setuptools
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

## The whole platform locally, with demo data, on the embedded stand-in (moto).
run: install
	$(PY) infra/devserver.py

## Unit, integration and end-to-end tests (e2e starts its own local stack).
test: install
	$(PY) -m pytest -q tests

## Deployable template for a region stack: make package STAGE=dev|shenzhen
package: install
	$(PY) infra/render.py --stage $(STAGE)

## Deploy to a real account (needs credentials): make deploy STAGE=shenzhen
deploy: package
	$(PY) infra/render.py --stage $(STAGE) --deploy

eval-dedup: install
	$(PY) bench/eval_dedup.py --cases $(CASES)

eval-dispatch: install
	$(PY) bench/eval_dispatch.py --cases $(CASES)

clean:
	rm -rf $(VENV) build .pytest_cache
