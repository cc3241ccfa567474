# Vigil: `make test` and `make demo` are the two set-up commands (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test test-fast lint typecheck pytest demo bench bench-quick bench-full models clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the project's dependency list changed.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@# insightface depends on the GUI build opencv-python; both builds share the cv2 folder,
	@# so remove both and keep exactly one, the headless build.
	@if $(BIN)/pip show --quiet opencv-python 2>/dev/null; then \
	  $(BIN)/pip uninstall --quiet -y opencv-python opencv-python-headless; \
	  $(BIN)/pip install --quiet --no-deps opencv-python-headless; \
	fi
	$(BIN)/python -c "import cv2, dlib, hnswlib, onnxruntime; print('cv2', cv2.__version__)"
	touch $(STAMP)

install: $(STAMP)
	@$(BIN)/python -m server.recognition.packs_bootstrap || true

lint: install
	$(BIN)/ruff check server shared tui tests bench
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# The officer app's browser tests drive Debian's Chromium (Playwright's own browser download
# cannot work offline); install it when missing.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && apt-get install -y -qq chromium chromium-driver

pytest: install $(CHROMIUM)
	$(BIN)/pytest -q

test: lint typecheck pytest

# The inner loop: the suite without the tests marked slow (no lint, no typing).
test-fast: install
	$(BIN)/pytest -q -m "not slow"

demo: install
	$(BIN)/vigil demo

bench: install
	$(BIN)/python -m bench

bench-quick: install
	$(BIN)/python -m bench --quick

# Adds the 1M-template index (hours of index building on 2 cores).
bench-full: install
	$(BIN)/python -m bench --full

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
