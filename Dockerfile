# The partnerops manager's image: `make docker-build IMG=…` (docs/install.md).
#
# The builder compiles the same package as `make build`, with the Go of
# go.mod, statically (no cgo) and without local paths (-trimpath); the image
# is distroless (no shell, no package manager) and runs as the nonroot user
# 65532, which the Deployment's securityContext names too. test/manifests
# (TestDockerfile*) checks all of this and replays the builder's steps.
#
# Base images: `make pin-base-images` pins both by the digest their registry
# serves for the tag now (image:tag@sha256:…, the multi-platform index, so
# `make docker-buildx` gets each platform's image from it), and refreshes
# the pins when run again. It needs a registry; until it has run, the
# images follow their tags.

# The builder runs on the build machine's platform and cross-compiles for
# the image's (docker buildx build --platform linux/arm64 …); BuildKit sets
# TARGETOS and TARGETARCH, and without them Go builds for linux on the
# builder's architecture.
FROM --platform=$BUILDPLATFORM golang:1.26.0 AS builder
ARG TARGETOS
ARG TARGETARCH
# What the manager reports (--version, its start log line, metrics):
# main.version, main.commit and main.date, as `make build` and the release
# set them; make docker-build and docker-buildx pass all three.
ARG VERSION=dev
ARG COMMIT
ARG BUILD_DATE
WORKDIR /src
ENV GOTOOLCHAIN=local

# Modules first: this layer is reused while go.mod and go.sum do not change.
COPY go.mod go.sum ./
RUN go mod download

# The manager's sources only (.dockerignore keeps tests and tools out).
COPY main.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${BUILD_DATE}" -o partnerops .

FROM gcr.io/distroless/static:nonroot
COPY --from=builder /src/partnerops /partnerops
USER 65532:65532
ENTRYPOINT ["/partnerops"]
