# partnerops — see README.md. `make help` lists the targets.

# Pinned tool versions. The control plane's versions are pinned in
# hack/tools/kube/go.mod (Kubernetes) and hack/tools/etcd/go.mod (etcd).
CONTROLLER_TOOLS_VERSION ?= v0.23.0

ROOT  := $(CURDIR)
BIN   := $(ROOT)/bin
TOOLS := $(BIN)/tools/$(CONTROLLER_TOOLS_VERSION)
CONTROLLER_GEN := $(TOOLS)/controller-gen
GO    ?= go

# The Helm chart's tests and `make helm-package`: a Go module of its own, so
# that the Helm SDK stays out of the operator's go.mod.
HELM_MODULE := test/helm

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
manifests: $(CONTROLLER_GEN) ## Generate the CRDs and RBAC from the Go markers (and copy them into the Helm chart).
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	hack/chart-files.sh

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
	cd $(HELM_MODULE) && $(GO) vet ./...

.PHONY: verify-generated
verify-generated: $(CONTROLLER_GEN) ## Fail when the committed CRDs, RBAC or deepcopy code are stale.
	CONTROLLER_GEN=$(CONTROLLER_GEN) hack/verify-generated.sh

# with-control-plane runs a command with the TEST_ASSET_* variables envtest
# reads, building the control plane first if needed, and the paths of the
# test peers and tools (MAILPIT=…, PROMTOOL=…).
with-control-plane = test_env=$$( { hack/install-control-plane.sh && hack/install-peers.sh && hack/install-tools.sh; } | sed 's/^/export /') && eval "$$test_env" && 

.PHONY: test
test: verify-generated lint release-tools ## Run every test (builds the control plane and tools first).
	$(with-control-plane) $(GO) test ./... -count=1 $(TESTFLAGS) && \
		cd $(HELM_MODULE) && $(GO) test ./... -count=1 $(TESTFLAGS)

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
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o $(BIN)/partnerops .

# What `partnerops --version` and `kubectl partners version` print besides
# VERSION (GoReleaser's names: -X main.version, main.commit, main.date, in
# both binaries; .goreleaser.yaml and the Dockerfile set the same).
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_LDFLAGS = -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(BUILD_DATE)

.PHONY: plugin
plugin: ## Build the kubectl plugin into bin/kubectl-partners, with bin/kubectl_complete-partners for kubectl's shell completion (put bin/ on PATH).
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o $(BIN)/kubectl-partners ./cmd/kubectl-partners
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

# What the image's manager reports (main.version, main.commit, main.date).
DOCKER_BUILD_ARGS = --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg BUILD_DATE=$(BUILD_DATE)

.PHONY: docker-build
docker-build: ## Build the manager's image IMG (default partnerops:dev) from the Dockerfile with CONTAINER_TOOL (docker).
	$(CONTAINER_TOOL) build -t $(IMG) $(DOCKER_BUILD_ARGS) .

.PHONY: docker-push
docker-push: ## Push the image IMG.
	$(CONTAINER_TOOL) push $(IMG)

# The platforms of `make docker-buildx`: one image index with an image for
# each. The Dockerfile's builder runs on the build machine's platform and
# cross-compiles for each (TARGETOS, TARGETARCH), so no emulation is needed
# for the build; the base images are multi-platform.
PLATFORMS ?= linux/amd64,linux/arm64

# As kubebuilder's scaffold does, with a builder of its own (the docker
# driver builds one platform only), removed afterwards whatever happens.
# The Dockerfile already names --platform=$$BUILDPLATFORM, so no
# Dockerfile.cross is needed. Pushes: IMG must be a registry you can push to.
.PHONY: docker-buildx
docker-buildx: ## Build and push the manager's image IMG for each of PLATFORMS (linux/amd64,linux/arm64) with docker buildx.
	- $(CONTAINER_TOOL) buildx create --name partnerops-builder
	$(CONTAINER_TOOL) buildx use partnerops-builder
	trap '$(CONTAINER_TOOL) buildx rm partnerops-builder' EXIT; \
		$(CONTAINER_TOOL) buildx build --push --platform=$(PLATFORMS) --tag $(IMG) $(DOCKER_BUILD_ARGS) -f Dockerfile .

.PHONY: pin-base-images
pin-base-images: ## Pin (or refresh) the Dockerfile's base images by the digest their registry serves now (needs gcr.io and Docker Hub).
	@crane=$$(hack/install-release-tools.sh crane | sed -n 's/^CRANE=//p') && CRANE="$$crane" hack/pin-base-images.sh

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

# The Helm chart charts/partnerops as an archive, written with the Helm SDK
# (no helm binary needed) after a strict lint. CHART_VERSION and
# APP_VERSION, when set, replace Chart.yaml's version and appVersion (the
# default image tag).
CHART_VERSION ?=
APP_VERSION ?=
# Where helm-package writes.
HELM_DIST ?= $(ROOT)/dist

.PHONY: helm-package
helm-package: ## Write dist/partnerops-<version>.tgz: the Helm chart (CHART_VERSION, APP_VERSION override Chart.yaml's).
	@cd $(HELM_MODULE) && $(GO) run ./cmd/helm-package -chart $(ROOT)/charts/partnerops -destination $(HELM_DIST) \
		-version "$(CHART_VERSION)" -app-version "$(APP_VERSION)"

##@ Release

# `make release-snapshot` builds everything a release publishes, locally,
# into dist/release/ (nothing is published): the manager and kubectl-partners
# for linux, darwin and windows on amd64 and arm64 (12 binaries), their
# archives, checksums.txt, a CycloneDX SBOM per binary, and the krew
# manifest filled from the archives (dist/release/krew/partners.yaml).
# dist/release is .goreleaser.yaml's dist.
# docs/releasing.md says how a release is cut and what each step costs.
RELEASE_DIST := $(ROOT)/dist/release

.PHONY: release-snapshot
release-snapshot: ## Build every release artifact for all 6 platforms into dist/release/ with GoReleaser in snapshot mode (nothing published), then the krew manifest.
	hack/goreleaser.sh release --snapshot --clean
	$(GO) run ./hack/krew -template hack/krew/partners.yaml -dist $(RELEASE_DIST) -o $(RELEASE_DIST)/krew/partners.yaml
	@echo "Wrote $(RELEASE_DIST): archives, checksums.txt, SBOMs (*.cdx.json), krew/partners.yaml"

.PHONY: release-tools
release-tools: ## Build GoReleaser and cyclonedx-gomod from the Go module proxy into bin/tools/ (once per version).
	@hack/install-release-tools.sh goreleaser cyclonedx-gomod >/dev/null

##@ Tools

.PHONY: control-plane
control-plane: ## Build kube-apiserver, kubectl and etcd from the Go module proxy into bin/ (once per version).
	@hack/install-control-plane.sh >/dev/null

$(CONTROLLER_GEN):
	GOBIN=$(TOOLS) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

.PHONY: tools
tools: ## Build the test tools (promtool) into bin/tools/ and fetch the Prometheus Operator's CRDs, with hack/install-tools.sh (once per version).
	@hack/install-tools.sh >/dev/null

.PHONY: peers
peers: ## Install the test peers with hack/install-peers.sh: Mailpit with its web UI and the node servers into bin/tools/, Chromium and slapd with apt-get.
	@hack/install-peers.sh >/dev/null
