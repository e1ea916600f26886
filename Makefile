# satellite: the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
BIN       := bin/satellite
PKG       := ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
STATICCHECK_VERSION := 2026.2.2
FUZZTIME  ?= 30s

.PHONY: all build run test check fmt bench fuzz clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/satellite

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
	@command -v staticcheck >/dev/null 2>&1 || [ -x "$$($(GO) env GOPATH)/bin/staticcheck" ] || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" staticcheck $(PKG)

fmt:
	gofmt -w $$(git ls-files '*.go')
	$(GO) run ./cmd/satellite fmt examples/* testdata/valid

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKG)

# Fuzz the config parser and compiler for FUZZTIME.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzCompile -fuzztime $(FUZZTIME) ./engine

clean:
	rm -rf bin .satellite
