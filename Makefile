# Two commands on a fresh machine:
#   make demo   install, then run the main job (mirror + import pipelines) on embedded defaults
#   make test   install, then run the whole test suite
#   make test-fast  the suite without the slow integration tests (pytest -m "not slow")
# Everything installs into .venv from uv.lock; uv itself is bootstrapped into .tools/.

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv

.PHONY: demo test test-fast snapshot dev bench bench-smoke install

install: $(VENV)/.installed

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv>=0.5"

$(VENV)/.installed: uv.lock pyproject.toml | $(UV)
	$(UV) sync --locked
	touch $@

demo: install
	$(VENV)/bin/python -m stripe_standin.demo

test: install
	@bash scripts/install-browser.sh || echo "headless Chromium could not be installed: the browser test will skip (and fail in CI)"
	UV="$(UV)" $(VENV)/bin/python -m pytest

test-fast: install
	$(VENV)/bin/python -m pytest -m "not slow"

# Rewrite the snapshot of every definition after a meant change (then review and commit it).
snapshot: install
	SNAPSHOT_UPDATE=1 $(VENV)/bin/python -m pytest -q stripe_customer_assets_tests/test_definitions.py

dev: install
	$(VENV)/bin/python -m stripe_standin.demo --serve

bench: install
	$(VENV)/bin/python -m bench

bench-smoke: install
	$(VENV)/bin/python -m bench --smoke
