# callverify: `make run` serves, `make test` proves. Both work on a fresh Debian
# machine as root: they install what is missing (Debian packages, the venv, the
# Asterisk sandbox) first.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
REDIS_URL ?= $(or $(CALLVERIFY_REDIS_URL),redis://127.0.0.1:6379/0)
REDIS_DIR ?= /var/lib/callverify/redis
# php-cli runs docs/security.md's PHP receiver example in the tests.
DEBS := redis-server sip-tester debootstrap php-cli

.PHONY: test lint run deps venv sandbox sandbox-stop redis unit integration bench clean

test: deps venv lint
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The lint and type gate, pinned in pyproject.toml (`[tool.ruff]`, `[tool.mypy]`);
# `make test` runs it first and stops on a finding.
lint: venv
	$(BIN)/ruff check api engine asterisk tests
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q tests/unit

integration: deps venv
	$(BIN)/pytest -q tests/integration

# The service at CPU priority -10 beside Asterisk (engine/priority.py);
# CALLVERIFY_CPU_NICE=0 make run leaves it at the default. Callbacks may go to
# 127.0.0.0/8 (the README's local quick start) unless CALLVERIFY_EGRESS_ALLOW
# is set: an explicit empty value allows nothing private (docs/security.md).
run: deps venv sandbox redis
	CALLVERIFY_CPU_NICE=$${CALLVERIFY_CPU_NICE:--10} \
	CALLVERIFY_EGRESS_ALLOW=$${CALLVERIFY_EGRESS_ALLOW-127.0.0.0/8} \
	exec $(BIN)/callverify run

deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v sipp >/dev/null || missing="$$missing sip-tester"; \
	command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing="$$missing debootstrap"; \
	command -v php >/dev/null || missing="$$missing php-cli"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

venv: $(BIN)/callverify

$(BIN)/callverify: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

sandbox:
	$(PY) asterisk/sandbox.py start

sandbox-stop:
	$(PY) asterisk/sandbox.py stop

# Use CALLVERIFY_REDIS_URL if something answers there; otherwise start a
# project-owned redis-server (AOF on) on the default local port.
redis:
	@if redis-cli -u "$(REDIS_URL)" ping >/dev/null 2>&1; then \
	  echo "redis: using $(REDIS_URL)"; \
	else \
	  mkdir -p $(REDIS_DIR); \
	  redis-server --bind 127.0.0.1 --port 6379 --dir $(REDIS_DIR) --appendonly yes \
	    --daemonize yes --pidfile $(REDIS_DIR)/redis.pid --logfile $(REDIS_DIR)/redis.log; \
	  for i in $$(seq 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done; \
	  echo "redis: started project-owned redis-server on 127.0.0.1:6379 (data in $(REDIS_DIR))"; \
	fi

# Benchmark (issue 4): callverify against the same call in plain dialplan, on
# the sandbox instance `bench` (ARI 8388, SIP 5360, phones on 5190) with its own
# redis-server; prints a table, writes tests/bench/results/<date>.json, under
# 10 minutes. BENCH_ARGS passes options, e.g. BENCH_ARGS="--rates 2,5,10".
bench: deps venv
	@command -v wrk >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
	@[ -x $(BIN)/py-spy ] || $(BIN)/pip install -q py-spy==0.4.3
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .mypy_cache
