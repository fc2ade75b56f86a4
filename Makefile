# hpo — the commands a new user runs: `make demo`, `make test`, `make bench`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned in the same pip call as the project so pip takes the CPU
# build available here instead of a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup demo test bench clean lint docs docs-serve

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH_SPEC) -e '.[dev,docs]'
	touch $@

$(VENV): $(VENV)/.installed

setup: $(VENV)

N_TRIALS ?= 30
DEMO_STORAGE ?= sqlite:///hpo.db
# Threads per demo trial (OpenMP, BLAS, torch): unlimited, they oversubscribe a busy machine's cores and
# the demo slows down many times over. `make demo HPO_THREADS=4` (or the environment's HPO_THREADS) overrides.
HPO_THREADS ?= 1

demo: $(VENV)
	HPO_THREADS=$(HPO_THREADS) OMP_NUM_THREADS=$(HPO_THREADS) $(BIN)/hpo demo --n-trials $(N_TRIALS) --storage $(DEMO_STORAGE)

test: $(VENV)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --timeout 900 $(PYTEST_ARGS)

# ruff (pycodestyle, pyflakes, bugbear, pyupgrade) and mypy on hpo/, both configured in pyproject.toml.
lint: $(VENV)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The documentation site (mkdocs.yml, docs/) into ./site; warnings are errors. `make docs-serve`: live preview.
docs: $(VENV)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(VENV)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

bench: $(VENV)
	$(BIN)/hpo bench store

clean:
	rm -rf $(VENV) hpo.db hpo.db-wal hpo.db-shm .pytest_cache *.egg-info site
