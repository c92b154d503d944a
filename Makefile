# partnerops — see README.md. `make help` lists the targets.

# Pinned tool versions. The control plane's versions are pinned in
# hack/tools/kube/go.mod (Kubernetes) and hack/tools/etcd/go.mod (etcd).
CONTROLLER_TOOLS_VERSION ?= v0.23.0

ROOT  := $(CURDIR)
BIN   := $(ROOT)/bin
TOOLS := $(BIN)/tools/$(CONTROLLER_TOOLS_VERSION)
CONTROLLER_GEN := $(TOOLS)/controller-gen
GO    ?= go

# Test flags: `make test TESTFLAGS='-run TestX -v'`.
TESTFLAGS ?=
BENCHFLAGS ?= -benchtime=2s
# System benchmark flags: `make bench-system BENCHSYSTEMFLAGS='-n 10000 -profile-dir bin/bench'`.
BENCHSYSTEMFLAGS ?=

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: dev
dev: build control-plane ## Run everything locally: control plane with the CRDs, Mailpit, a SCIM server, a Partner Hub stand-in, the manager; prints what to do next.
	@$(GO) build -o $(BIN)/partnerops-dev ./hack/dev
	@peers=$$(hack/install-peers.sh) && \
		mailpit=$$(sed -n 's/^MAILPIT=//p' <<<"$$peers") && \
		scim=$$(sed -n 's/^SCIM_SERVER=//p' <<<"$$peers") && \
		exec $(BIN)/partnerops-dev --manager $(BIN)/partnerops --mailpit "$$mailpit" --scim-server "$$scim"

.PHONY: screenshots
screenshots: ## Take the pictures of README.md and docs/ again, into docs/images/: the README's walkthrough in headless Chromium.
	$(with-control-plane) $(GO) test ./hack/dev/ -run '^TestWalkthrough$$' -count=1 -args -docs-images

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs and RBAC from the Go markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the deepcopy code of the API types.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: lint
lint: ## Check formatting and go vet.
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: verify-generated
verify-generated: $(CONTROLLER_GEN) ## Fail when the committed CRDs, RBAC or deepcopy code are stale.
	CONTROLLER_GEN=$(CONTROLLER_GEN) hack/verify-generated.sh

# with-control-plane runs a command with the TEST_ASSET_* variables envtest
# reads, building the control plane first if needed, and the paths of the
# test peers and tools (MAILPIT=…, PROMTOOL=…).
with-control-plane = test_env=$$( { hack/install-control-plane.sh && hack/install-peers.sh && hack/install-tools.sh; } | sed 's/^/export /') && eval "$$test_env" && 

.PHONY: test
test: verify-generated lint ## Run every test (builds the control plane and tools first).
	$(with-control-plane) $(GO) test ./... -count=1 $(TESTFLAGS)

.PHONY: bench
bench: ## Run the benchmarks.
	$(with-control-plane) $(GO) test ./... -run '^$$' -bench . -benchmem $(BENCHFLAGS)

.PHONY: bench-system
bench-system: ## Benchmark the whole manager against the API server's and the mail server's own floor (hack/bench; -n 2000 invitations by default) and print one table.
	$(GO) build -o $(BIN)/bench ./hack/bench
	$(with-control-plane) $(BIN)/bench $(BENCHSYSTEMFLAGS)

##@ Build

.PHONY: build
build: plugin ## Build the manager binary into bin/partnerops (and the kubectl plugin).
	$(GO) build -o $(BIN)/partnerops .

# What `kubectl partners version` prints besides VERSION (GoReleaser's names:
# -X main.version, main.commit, main.date).
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)

.PHONY: plugin
plugin: ## Build the kubectl plugin into bin/kubectl-partners, with bin/kubectl_complete-partners for kubectl's shell completion (put bin/ on PATH).
	$(GO) build -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(BUILD_DATE)" -o $(BIN)/kubectl-partners ./cmd/kubectl-partners
	ln -sf kubectl-partners $(BIN)/kubectl_complete-partners

##@ Deployment

# The manager's image. `make docker-build docker-push IMG=registry.example.com/partnerops:v1.2.3`,
# then `make build-installer IMG=…` for an install.yaml that runs it.
IMG ?= partnerops:dev
# docker, or podman (same flags).
CONTAINER_TOOL ?= docker
# The version the manager logs at start (-X main.version).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# Where build-installer writes.
INSTALLER ?= $(ROOT)/dist/install.yaml

.PHONY: docker-build
docker-build: ## Build the manager's image IMG (default partnerops:dev) from the Dockerfile with CONTAINER_TOOL (docker).
	$(CONTAINER_TOOL) build -t $(IMG) --build-arg VERSION=$(VERSION) .

.PHONY: docker-push
docker-push: ## Push the image IMG.
	$(CONTAINER_TOOL) push $(IMG)

# build-installer renders config/default through a throwaway overlay (in
# dist/, git-ignored) that sets the image, so no tracked file changes.
.PHONY: build-installer
build-installer: control-plane ## Write dist/install.yaml: all of config/default in one file, with the image IMG.
	@mkdir -p $(ROOT)/dist "$$(dirname "$(INSTALLER)")"
	@overlay=$$(mktemp -d "$(ROOT)/dist/.installer.XXXXXX") && trap 'rm -rf "$$overlay"' EXIT && \
		printf '%s\n' \
			'apiVersion: kustomize.config.k8s.io/v1beta1' \
			'kind: Kustomization' \
			'resources:' \
			'- ../../config/default' \
			'patches:' \
			'- patch: |-' \
			'    apiVersion: apps/v1' \
			'    kind: Deployment' \
			'    metadata: {name: partnerops-controller-manager, namespace: partnerops-system}' \
			'    spec: {template: {spec: {containers: [{name: manager, image: "$(IMG)"}]}}}' \
			>"$$overlay/kustomization.yaml" && \
		$(BIN)/kubectl kustomize "$$overlay" >"$(INSTALLER).tmp" && \
		mv "$(INSTALLER).tmp" "$(INSTALLER)"
	@echo "Wrote $(INSTALLER) (image $(IMG)): kubectl apply --server-side -f $(INSTALLER)"

##@ Tools

.PHONY: control-plane
control-plane: ## Build kube-apiserver, kubectl and etcd from the Go module proxy into bin/ (once per version).
	@hack/install-control-plane.sh >/dev/null

$(CONTROLLER_GEN):
	GOBIN=$(TOOLS) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

.PHONY: peers
peers: ## Install the test peers with hack/install-peers.sh: Mailpit with its web UI and the node servers into bin/tools/, Chromium and slapd with apt-get.
	@hack/install-peers.sh >/dev/null
.PHONY: tools
tools: ## Build the test tools (promtool) into bin/tools/ and fetch the Prometheus Operator's CRDs, with hack/install-tools.sh (once per version).
	@hack/install-tools.sh >/dev/null

