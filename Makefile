# Jiesu — one Makefile for a newcomer, CI and admins. Needs only Python 3.11 and PyPI.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAGE  ?= dev

UV_VERSION := 0.13.9

.PHONY: run reset test install browser lock package deploy eval-dedup eval-hotspots eval-dispatch bench clean

# One install of the pinned lock: uv (from PyPI) installs it in parallel with no resolver pass;
# pip's own resolve-download-compile of the same set took 3x as long (README, "First start").
$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip install -q --python $(PY) --no-deps -r requirements.lock
	touch $@

install: $(VENV)/.installed

## Re-pin requirements.lock after changing requirements.txt or requirements-dev.txt. uv keeps the
## versions already in its output file, so only what the change needs moves (the old lock seeds it).
lock: install
	cp requirements.lock requirements.lock.new
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

## The browser tests' (tests/browser/) headless browser: Debian's chromium and a Chinese font
## (WenQuanYi Micro Hei, for pages and screenshots that show Chinese), installed with apt (as
## root, else through sudo) when either is missing; does nothing when both are there.
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
## JIESU_CHROMIUM=/path/to/chromium overrides it: then only that file is checked.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

browser:
	@if [ -n "$$JIESU_CHROMIUM" ]; then \
	  [ -x "$$JIESU_CHROMIUM" ] || { echo "JIESU_CHROMIUM=$$JIESU_CHROMIUM is not an executable file" >&2; exit 1; }; \
	elif ! command -v chromium >/dev/null 2>&1 || [ ! -e $(CJK_FONT) ]; then \
	  command -v apt-get >/dev/null 2>&1 || { echo "no chromium and no apt-get: install chromium yourself and set JIESU_CHROMIUM to its path" >&2; exit 1; }; \
	  $(if $(SUDO),command -v sudo >/dev/null 2>&1 || { echo "no chromium and not root and no sudo: run apt-get install chromium as root" >&2; exit 1; };) \
	  echo "Installing Debian's chromium for the browser tests (apt-get$(if $(SUDO), via sudo))"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-wqy-microhei; \
	fi

## Unit, integration, end-to-end and browser tests (e2e starts its own local stack).
test: install browser
	$(PY) -m pytest -q tests

## Deployable template for a region stack: make package STAGE=dev|shenzhen
package: install
	$(PY) infra/render.py --stage $(STAGE)

## Deploy to a real account (needs credentials): make deploy STAGE=shenzhen
deploy: package
	$(PY) infra/render.py --stage $(STAGE) --deploy

eval-dedup: install
	$(PY) bench/eval_dedup.py --cases $(CASES)

## Hotspot early warning: make eval-hotspots CASES=hotspots.jsonl SPIKES=hotspots-spikes.jsonl
eval-hotspots: install
	$(PY) bench/eval_hotspots.py --cases $(CASES) --spikes $(SPIKES)

## Dispatch: make eval-dispatch CASES=dispatch.jsonl [MAP=label-map.json for a set labelled in another taxonomy]
eval-dispatch: install
	$(PY) bench/eval_dispatch.py --cases $(CASES) $(if $(MAP),--map $(MAP))

clean:
	rm -rf $(VENV) build .pytest_cache
