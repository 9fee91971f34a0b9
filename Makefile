# dualsys: the two front doors are `make demo` and `make test`; both set themselves up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCENARIO ?= scenarios/default.yaml

.PHONY: demo test test-fast lint bench clean install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: set up, then run the default scenario on the embedded stack and print the report's path
demo: $(STAMP)
	$(BIN)/dualsys run $(SCENARIO)

## test: set up, then run the whole test suite (slow known-answer runs included). Four pytest
## workers on two cores: the stack runs mostly wait on their load's think time, so they overlap.
TEST_WORKERS ?= 4
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

## test-fast: the suite without the slow end-to-end runs
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check harness tests benchmarks scripts
	$(BIN)/ruff format --check harness tests benchmarks scripts
	$(BIN)/mypy

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## nginx: install nginx from the system's packages (apt, dnf, yum, apk, pacman, brew), for
## examples/nginx/ and tests/integration/ (skipped without it). Needs root or sudo except brew.
## A packaged nginx may start its own service on port 80; the examples never use that one.
.PHONY: nginx
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
nginx:
	@if command -v nginx >/dev/null 2>&1; then \
		echo "nginx is installed: $$(command -v nginx) ($$(nginx -v 2>&1))"; \
	elif command -v apt-get >/dev/null 2>&1; then \
		$(SUDO) apt-get update && \
		{ $(SUDO) apt-get install -y nginx-light || $(SUDO) apt-get install -y nginx; }; \
	elif command -v dnf >/dev/null 2>&1; then $(SUDO) dnf install -y nginx; \
	elif command -v yum >/dev/null 2>&1; then $(SUDO) yum install -y nginx; \
	elif command -v apk >/dev/null 2>&1; then $(SUDO) apk add nginx; \
	elif command -v pacman >/dev/null 2>&1; then $(SUDO) pacman -S --noconfirm nginx; \
	elif command -v brew >/dev/null 2>&1; then brew install nginx; \
	else echo "make nginx: no package manager found (apt-get, dnf, yum, apk, pacman, brew); install nginx yourself" >&2; exit 1; fi
	@command -v nginx >/dev/null 2>&1 || { \
		for d in /usr/sbin /usr/local/sbin /opt/homebrew/bin; do [ -x "$$d/nginx" ] && \
			echo "make nginx: installed as $$d/nginx, which is not on PATH: export PATH=\"\$$PATH:$$d\"" >&2 && exit 1; \
		done; echo "make nginx: nginx is still not on PATH" >&2; exit 1; }

clean:
	rm -rf $(VENV) runs build *.egg-info .pytest_cache .mypy_cache .ruff_cache
