# The two commands a newcomer needs: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIND ?= 127.0.0.1:8000

.PHONY: run test lint bench changepassword clean

$(VENV)/.installed: requirements/base.txt requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Daznode needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $@

## run: install, migrate, create the admin, then start web, worker, beat and a simulated LND (the demo data)
run: $(VENV)/.installed
	$(PY) manage.py bootstrap --url http://$(BIND)
	DAZNODE_BIND=$(BIND) PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/honcho -f docker/Procfile -d $(CURDIR) start

## test: the whole test suite (PostgreSQL and Redis when DATABASE_URL and REDIS_URL are set)
test: $(VENV)/.installed
	DAZNODE_DATA_DIR=$(CURDIR)/.test-data $(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(VENV)/.installed
	$(PY) -m tests.benchmarks.bench_graph_cache
	$(PY) -m tests.benchmarks.bench_centrality
	$(PY) -m tests.benchmarks.bench_scoring
	$(PY) -m tests.benchmarks.bench_fee_cycle

changepassword: $(VENV)/.installed
	$(PY) manage.py changepassword $${DAZNODE_ADMIN_USER:-admin}

clean:
	rm -rf $(VENV) .test-data .pytest_cache
