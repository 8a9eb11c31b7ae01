# Jiesu — one Makefile for a newcomer, CI and admins. Needs only Python 3.11 and PyPI.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAGE  ?= dev

UV_VERSION := 0.13.9

.PHONY: run reset test install lock package deploy eval-dedup eval-dispatch bench clean

# One install of the pinned lock: uv (from PyPI) installs it in parallel with no resolver pass;
# pip's own resolve-download-compile of the same set took 3x as long (README, "First start").
$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip install -q --python $(PY) --no-deps -r requirements.lock
	touch $@

install: $(VENV)/.installed

## Re-pin requirements.lock after changing requirements.txt or requirements-dev.txt.
lock: install
	$(VENV)/bin/uv pip compile -q --python-version 3.11 requirements-dev.txt -o requirements.lock.new
	(head -2 requirements.lock; cat requirements.lock.new) > requirements.lock.tmp && rm requirements.lock.new
	mv requirements.lock.tmp requirements.lock

## The whole platform locally, with demo data, on the embedded stand-in (moto); its state is
## kept under .local/. Flags: make run ARGS="--api-port 8080 --feed-every 1" (see README).
run: install
	$(PY) infra/devserver.py $(ARGS)

## Forget everything make run kept (appeals, keys, secrets, staff pool): the next run starts anew.
reset:
	rm -rf .local

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
