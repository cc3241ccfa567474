# Vigil: `make test` and `make demo` are the two set-up commands (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test test-fast fuzz lint typecheck pytest demo bench bench-quick bench-full models clean

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

# The fuzzers of tests/fuzz with large budgets (make test runs them with small ones): hypothesis
# on the three websockets, schemathesis on the REST API with each role's token. Figures per
# surface (inputs, closes, 5xx, errors logged) go to build/fuzz-report.jsonl.
FUZZ_WS_EXAMPLES ?= 500
FUZZ_WS_PREHELLO_EXAMPLES ?= 100
FUZZ_REST_EXAMPLES ?= 10
fuzz: install
	@mkdir -p build && rm -f build/fuzz-report.jsonl
	VIGIL_FUZZ_WS_EXAMPLES=$(FUZZ_WS_EXAMPLES) \
	VIGIL_FUZZ_WS_PREHELLO_EXAMPLES=$(FUZZ_WS_PREHELLO_EXAMPLES) \
	VIGIL_FUZZ_REST_EXAMPLES=$(FUZZ_REST_EXAMPLES) \
	VIGIL_FUZZ_REST_PHASES=examples,coverage,fuzzing,stateful \
	VIGIL_FUZZ_REPORT=$(CURDIR)/build/fuzz-report.jsonl \
	$(BIN)/pytest tests/fuzz -q -p no:cacheprovider
	@cat build/fuzz-report.jsonl

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
