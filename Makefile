# satellite: the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
BIN       := bin/satellite
PKG       := ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# staticcheck's module version (release 2026.2.2 is module v0.8.2): go install
# takes the module version, not the release name.
STATICCHECK_VERSION := v0.8.2
FUZZTIME  ?= 30s

.PHONY: all build package run test check fmt bench bench-peers fuzz clean

all: build

# Built as a release is: static (no cgo: pure-Go resolver and user lookup,
# nothing to load at start), without local paths or symbol tables.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(BIN) ./cmd/satellite

# The Debian package, $(DEB_OUT)/satellite_$(DEB_VERSION)-$(DEB_REVISION)_$(DEB_ARCH).deb:
# the binary above, the systemd unit, a starter config, man pages and
# completions (deploy/deb). DEB_VERSION is git describe in Debian's form
# (deploy/deb/version.sh: 0.0.0~git<commit time>.<sha> before the first v*
# tag). nfpm is pinned and run through the module proxy, not from go.mod.
# Dates in the package are HEAD's commit time.
# (Each is computed once, and only when package needs it.)
DEB_VERSION    ?= $(eval DEB_VERSION := $$(shell deploy/deb/version.sh))$(DEB_VERSION)
DEB_REVISION   ?= 1
DEB_ARCH       ?= $(eval DEB_ARCH := $$(shell $(GO) env GOARCH))$(DEB_ARCH)
DEB_OUT        ?= bin
DEB_UNIT       ?= deploy/systemd/satellite.service
DEB_MAINTAINER ?= satellite maintainers <maintainers@users.noreply.r-seed-653140e5.example>
NFPM_VERSION   := v2.48.0
package: build
	@test -n "$(DEB_VERSION)" || { echo "package: no DEB_VERSION (see deploy/deb/version.sh's error above)" >&2; exit 1; }
	@test -f "$(DEB_UNIT)" || { echo "package: the systemd unit $(DEB_UNIT) is missing" >&2; exit 1; }
	export SOURCE_DATE_EPOCH="$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null)}" \
		DEB_VERSION="$(DEB_VERSION)" DEB_REVISION="$(DEB_REVISION)" DEB_ARCH="$(DEB_ARCH)" DEB_MAINTAINER="$(DEB_MAINTAINER)" \
		SATELLITE_BIN="$(BIN)" DEB_UNIT="$(DEB_UNIT)" DEB_STAGING="$(DEB_OUT)/deb-staging" && \
	deploy/deb/stage.sh "$(BIN)" "$(DEB_VERSION)-$(DEB_REVISION)" "$(DEB_OUT)/deb-staging" && \
	$(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION) pkg --packager deb \
		--config deploy/deb/nfpm.yaml --target "$(DEB_OUT)/satellite_$(DEB_VERSION)-$(DEB_REVISION)_$(DEB_ARCH).deb"

# A single-node agent on the quickstart config: API on 127.0.0.1:7575,
# SQLite history under .satellite/ (git-ignored). Ctrl-C stops it.
run: build
	$(BIN) validate examples/quickstart
	$(BIN) run examples/quickstart

# Sets up what the tests need, runs every test with the race detector, and
# stops what it started (scripts/test.sh).
test:
	./scripts/test.sh

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKG)
	@bin="$$($(GO) env GOPATH)/bin"; "$$bin/staticcheck" -version 2>/dev/null | grep -qF "($(STATICCHECK_VERSION:v%=%))" || { \
		echo "installing staticcheck $(STATICCHECK_VERSION) into $$bin"; \
		GOBIN="$$bin" $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); }
	"$$($(GO) env GOPATH)/bin/staticcheck" $(PKG)

fmt:
	gofmt -w $$(git ls-files '*.go')
	$(GO) run ./cmd/satellite fmt examples/* testdata/valid

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKG)

# Side by side with goss and Gatus (their binaries in PEERS, see its
# README): whole processes, alternated, medians and ratios (bench/peers).
# BENCH_PEERS_FLAGS takes e.g. -before OLD_BINARY -runs 40 -json.
PEERS ?= ../shared/peers
bench-peers:
	$(GO) run ./bench/peers -peers $(PEERS) $(BENCH_PEERS_FLAGS)

# Fuzz the parsers for FUZZTIME each: the config compiler (seeded with
# testdata/hostile), the spool's record decoder, the mesh's digest decoder
# and peer token check (bytes from the network), the history and results
# query parsers, the event stream's parser, the metrics check's reading of
# an exposition (filter, expfmt's parser and its values), the heartbeat
# endpoint's names and the heartbeat files' names (from any check address).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzCompile$$' -fuzztime $(FUZZTIME) ./engine
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./sinks/spool
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeDigest$$' -fuzztime $(FUZZTIME) ./mesh
	$(GO) test -run '^$$' -fuzz '^FuzzPeerToken$$' -fuzztime $(FUZZTIME) ./mesh
	$(GO) test -run '^$$' -fuzz '^FuzzHistoryQuery$$' -fuzztime $(FUZZTIME) ./api
	$(GO) test -run '^$$' -fuzz '^FuzzResultsQuery$$' -fuzztime $(FUZZTIME) ./api
	$(GO) test -run '^$$' -fuzz '^FuzzEventStream$$' -fuzztime $(FUZZTIME) ./api
	$(GO) test -run '^$$' -fuzz '^FuzzHeartbeatName$$' -fuzztime $(FUZZTIME) ./api
	$(GO) test -run '^$$' -fuzz '^FuzzFileName$$' -fuzztime $(FUZZTIME) ./checks/heartbeat
	$(GO) test -run '^$$' -fuzz '^FuzzMetricsParse$$' -fuzztime $(FUZZTIME) ./checks/metrics

# Regenerates the sink plugin protocol's Go code next to sinkplugin/pb/sink.proto
# (the generated files are committed, so only a change to the .proto needs
# this). Needs protoc (apt-get install protobuf-compiler); the Go generators are
# installed at these versions, matching google.golang.org/protobuf and grpc in
# go.mod, into a temporary folder.
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
.PHONY: proto
proto:
	@command -v protoc >/dev/null 2>&1 || { echo "protoc is missing: apt-get install protobuf-compiler"; exit 1; }
	@bin=$$(mktemp -d) && trap 'rm -rf "$$bin"' EXIT && \
		GOBIN=$$bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION) && \
		GOBIN=$$bin $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION) && \
		PATH="$$bin:$$PATH" protoc -I sinkplugin/pb \
			--go_out=paths=source_relative:sinkplugin/pb \
			--go-grpc_out=paths=source_relative:sinkplugin/pb \
			sinkplugin/pb/sink.proto

# The probe image for container smoke tests: a static cmd/satellite-probe packed
# into a one-layer OCI archive (bin/satellite-probe.tar), with no registry and
# no Docker. Import it with `ctr -n satellite images import`, or push it to a
# registry (docs/probe-image.md).
PROBE_REF ?= satellite/probe:$(VERSION)
.PHONY: probe-image
probe-image:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/satellite-probe ./cmd/satellite-probe
	$(GO) run ./cmd/satellite-probe-image -binary bin/satellite-probe -o bin/satellite-probe.tar -ref $(PROBE_REF)

# satellite's own image: the static binary of `build` in a one-layer OCI
# archive (bin/satellite-image.tar) built the same way (internal/ociarchive,
# cmd/satellite-image): no shell, runs `satellite run /etc/satellite` as uid
# 10001, the same binary gives the same digest. Import it with
# `ctr -n k8s.io images import bin/satellite-image.tar` (deploy/kubernetes).
IMAGE_REF ?= satellite/satellite:$(VERSION)
.PHONY: image
image: build
	$(GO) run ./cmd/satellite-image -binary $(BIN) -o bin/satellite-image.tar -ref $(IMAGE_REF) -version $(VERSION)

# Regenerates the dashboard's screenshots in docs/images from the browser
# tests (Debian's chromium: apt-get install chromium).
.PHONY: screenshots
screenshots:
	SATELLITE_UPDATE_SCREENSHOTS=$(CURDIR)/docs/images $(GO) test -count=1 -run '^TestDashboard' ./cmd/satellite

clean:
	rm -rf bin .satellite
