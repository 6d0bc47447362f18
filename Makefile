# The two commands a newcomer needs: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIND ?= 127.0.0.1:8000
# LNbits (the LNbits client's tests run against a real one) conflicts with our dependencies: it gets its own.
LNBITS_VENV := .venv-lnbits
# Parallel test workers, twice the cores: many tests wait on a child process or a socket, so one per core leaves
# the CPUs idle (measured on 2 cores: 2 workers 178 s, 4 workers 149 s). Each gets its own data folder, Redis
# database and test database.
TEST_WORKERS ?= $(shell echo $$(( 2 * $$(nproc 2>/dev/null || echo 1) )))

.PHONY: install run test lint typecheck bench changepassword clean compose-smoke

$(VENV)/.installed: requirements/base.txt requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Daznode needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $@

# Built by the tests' own helper, so that `make` and a bare `pytest` build it the same way; it writes the copy of
# the requirements last (touched here too: an unchanged file would otherwise be rebuilt on every run).
$(LNBITS_VENV)/requirements.txt: requirements/lnbits.txt $(VENV)/.installed
	$(PY) -m tests.sources.lnbits_server
	touch $@

## install: the project's environment with the development tools, and LNbits' environment for its tests
install: $(VENV)/.installed $(LNBITS_VENV)/requirements.txt

## run: install, migrate, create the admin, then start web, worker, beat and a simulated LND (the demo data)
run: $(VENV)/.installed
	$(PY) manage.py bootstrap --url http://$(BIND)
	DAZNODE_BIND=$(BIND) PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/honcho -f docker/Procfile -d $(CURDIR) start

## test: the whole test suite (PostgreSQL and Redis when DATABASE_URL and REDIS_URL are set)
test: install
	DAZNODE_DATA_DIR=$(CURDIR)/.test-data $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## typecheck: mypy over decisions/, channels/ and sources/clients/ (configured in pyproject.toml; CI runs it)
typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

## bench: every benchmark, each figure printed even when another misses its target (then the exit status is 1)
BENCHMARKS := bench_graph_cache bench_centrality bench_scoring bench_fee_cycle bench_idle_memory bench_dashboard bench_api
bench: $(VENV)/.installed
	@failed=""; for bench in $(BENCHMARKS); do \
		$(PY) -m tests.benchmarks.$$bench || failed="$$failed $$bench"; \
	done; \
	if [ -n "$$failed" ]; then echo "over target or failed:$$failed"; exit 1; fi

## compose-smoke: build the image and run the whole compose stack for real (needs ../shared/tools/offline-docker)
OFFLINE_DOCKER ?= ../shared/tools/offline-docker/offline-docker
compose-smoke: $(VENV)/.installed
	@test -x $(OFFLINE_DOCKER) || { echo "compose-smoke skipped: $(OFFLINE_DOCKER) is absent (it runs Docker here)"; exit 0; }; \
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH docker/smoke.sh $(abspath $(OFFLINE_DOCKER)) $(abspath $(PY))

## umbrel-package: the Umbrel app package for pushed images, written to build/umbrel/daznode (standard library
## only). make umbrel-package IMAGE=ghcr.io/OWNER/daznode:1.2.0@sha256:... POSTGRES_IMAGE=postgres:16@sha256:...
## REDIS_IMAGE=redis:7@sha256:... REPO_URL=https://github.com/OWNER/daznode [SUBMISSION=<umbrel-apps PR URL>]
.PHONY: umbrel-package
UMBREL_OUT ?= build/umbrel
umbrel-package:
	$(PYTHON) docker/umbrel_package.py --image "$(IMAGE)" --postgres-image "$(POSTGRES_IMAGE)" \
		--redis-image "$(REDIS_IMAGE)" --repo-url "$(REPO_URL)" --out "$(UMBREL_OUT)" \
		$(if $(SUBMISSION),--submission "$(SUBMISSION)")

changepassword: $(VENV)/.installed
	$(PY) manage.py changepassword $${DAZNODE_ADMIN_USER:-admin}

clean:
	rm -rf $(VENV) $(LNBITS_VENV) .venv-lnbits.lock .venv-lnbits-install.log .test-data .pytest_cache .mypy_cache
