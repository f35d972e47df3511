# callverify: `make run` serves, `make test` proves. Both work on a fresh Debian
# machine as root: they install what is missing (Debian packages, the venv, the
# Asterisk sandbox) first.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
REDIS_DIR ?= /var/lib/callverify/redis
REDIS_PORT ?= 6390
# always: no acknowledged write lost in a host crash, at an fsync per write batch
REDIS_APPENDFSYNC ?= everysec
# php-cli runs docs/security.md's PHP receiver example in the tests; podman,
# runc and catatonit (the pod's pause process) build and run the containers;
# baresip-core is the real softphone of the softphone tests, driven through tmux.
DEBS := redis-server sip-tester debootstrap php-cli podman runc catatonit baresip-core tmux

.PHONY: test lint run deps venv sandbox sandbox-stop redis unit integration bench image clean

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
	command -v podman >/dev/null || missing="$$missing podman"; \
	command -v runc >/dev/null || [ -x /usr/sbin/runc ] || missing="$$missing runc"; \
	command -v catatonit >/dev/null || [ -x /usr/libexec/podman/catatonit ] || missing="$$missing catatonit"; \
	command -v baresip >/dev/null || missing="$$missing baresip-core"; \
	command -v tmux >/dev/null || missing="$$missing tmux"; \
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

# CALLVERIFY_REDIS_URL's Redis as it is, if set; otherwise a project-owned
# redis-server on 127.0.0.1:$(REDIS_PORT) (AOF on, appendfsync
# $(REDIS_APPENDFSYNC)) with a generated password that callverify finds in
# $(REDIS_DIR)/url.
redis:
	@REDIS_DIR=$(REDIS_DIR) REDIS_PORT=$(REDIS_PORT) REDIS_APPENDFSYNC=$(REDIS_APPENDFSYNC) \
	  scripts/own-redis.sh

# The OCI images callverify-asterisk and callverify (docs/containers.md), with
# podman and containers/containers.conf; the first build imports the sandbox's
# root as debian:sid (building that root if missing), later ones use the cache.
image: deps
	PYTHON=$(PY) containers/images.sh

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
