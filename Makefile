# The two commands in the README: `make run` (the service) and `make test` (lint, types, tests).
# Both work on a fresh machine with only Python 3.11, pip and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
LINTED := paperfeed tests $(wildcard bench)

.PHONY: run test install install-dev lint typecheck pytest test-semantic browser newsboat dovecot bench bench-semantic clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes; the stamp files remember what was installed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# The semantic extra lives in its own venv, so the main suite proves paperfeed works without
# it. torch is installed first, pinned to its CPU build: here `pip install torch==2.13.0`
# takes the local CPU wheel; elsewhere pass TORCH_INDEX="--index-url
# https://download.pytorch.org/whl/cpu" so pip does not fetch the CUDA build.
SEMANTIC_VENV := .venv-semantic
TORCH_VERSION ?= 2.13.0
TORCH_INDEX   ?=

$(SEMANTIC_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(SEMANTIC_VENV)
	$(SEMANTIC_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SEMANTIC_VENV)/bin/python -m pip install --quiet torch==$(TORCH_VERSION) $(TORCH_INDEX)
	$(SEMANTIC_VENV)/bin/python -m pip install --quiet -e '.[dev,semantic]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/paperfeed db upgrade
	$(BIN)/paperfeed run --host $(HOST) --port $(PORT)

test: install-dev browser newsboat dovecot lint typecheck pytest test-semantic

lint: install-dev
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: install-dev
	$(BIN)/mypy paperfeed

pytest: install-dev
	$(BIN)/pytest -m "not semantic"

# The tests marked `semantic`, with the extra installed (the rest ran without it above).
test-semantic: $(SEMANTIC_VENV)/.installed
	$(SEMANTIC_VENV)/bin/pytest -m semantic

# Browser tests drive Debian's chromium (Playwright never downloads a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: install Debian's chromium package for the browser tests"; fi; }

# The feed reader test subscribes the feeds in Debian's newsboat (tests/feeds/test_feeds_newsboat.py).
newsboat:
	@command -v newsboat >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's newsboat for the feed reader test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq newsboat >/dev/null; \
	  else echo "newsboat is missing: install Debian's newsboat package for the feed reader test"; fi; }

# The bounce mailbox tests poll a private instance of Debian's dovecot (tests/support/dovecot.py).
dovecot:
	@command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's dovecot-imapd for the bounce mailbox tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; \
	  else echo "dovecot is missing: install Debian's dovecot-imapd package for the bounce mailbox tests"; fi; }

# Every benchmark, then the plots (see bench/README.md). The SMTP benchmarks need Postfix's
# smtp-sink/smtp-source and the feed benchmark wrk: installed with apt-get when root.
bench: install-dev
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@missing=""; \
	  [ -x /usr/sbin/smtp-sink ] && [ -x /usr/sbin/smtp-source ] || missing="$$missing postfix"; \
	  command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "installing Debian's$$missing for the benchmarks"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    else echo "missing:$$missing (Debian packages; the benchmarks that need them fall back or fail)"; fi; \
	  fi
	for script in $(filter-out bench/embed_bench.py,$(wildcard bench/*_bench.py)) bench/plot_results.py; do \
	  $(BIN)/python $$script || exit 1; done
	$(MAKE) bench-semantic

# The semantic benchmark needs the extra: it runs in .venv-semantic.
bench-semantic: $(SEMANTIC_VENV)/.installed
	$(SEMANTIC_VENV)/bin/python -m pip install --quiet -e '.[bench]'
	$(SEMANTIC_VENV)/bin/python bench/embed_bench.py

clean:
	rm -rf $(VENV) $(SEMANTIC_VENV) .mypy_cache .ruff_cache .pytest_cache
