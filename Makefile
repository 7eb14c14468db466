# Gale's build. `make test` is the one command that runs every test suite
# on a fresh machine (it installs what it needs); CI runs it through .ci/run.

SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/.bin

# Code generators at pinned versions, installed into .bin/ by `go install`
# (the buf registry is not used: generation works from the Go module proxy).
BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.0

# Apache Storm's own multilang libraries (storm.py, storm.js), fetched from
# Maven Central for the Storm multilang compatibility tests and examples.
STORM_VERSION    := 2.8.4
STORM_MAVEN      := https://repo1.maven.org/maven2/org/apache/storm
STORM_PY_SHA256  := e44370b132ff19b20efd0304646064a234612d29f621dbab9e24792b4be77d8e
STORM_JS_SHA256  := a00d5ba1ccd3d3de47ab229993ca50545bb1a0e3e91ccceb545ce3049034e5db
MULTILANG_DIR    := examples/wordcount/multilang

# Packages whose concurrency matters run under the race detector.
RACE_PKGS := ./router/... ./node/... ./sdk/... ./examples/... ./coordinator/...

.PHONY: all build deps test test-go test-python test-typescript lint generate check-generate tools bench clean

# The SDKs in other languages have their own Makefiles with the targets
# deps, generate and test; this one calls them.
SDK_DIRS := $(wildcard sdk/python/Makefile sdk/typescript/Makefile)
SDK_DIRS := $(patsubst %/Makefile,%,$(SDK_DIRS))
# Generated code checked by check-generate.
GENERATED := proto $(wildcard sdk/python/src/gale/v1) $(wildcard sdk/typescript/src/gen)

# Tests start external components by their commands (python3, node): the
# SDKs' own environments come first on PATH.
export PATH := $(CURDIR)/sdk/python/.venv/bin:$(PATH)

all: build

build:
	$(GO) build -o gale ./cmd/gale

## deps: install what the tests need besides Go (idempotent): Debian's
## etcd-server, for the tests that run against a real external etcd.
deps:
	@if ! command -v etcd >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing etcd-server (Debian)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null; \
		else echo "etcd is not installed and cannot be installed here: install Debian's etcd-server"; exit 1; fi; \
	fi
	@for d in $(SDK_DIRS); do $(MAKE) --no-print-directory -C $$d deps || exit 1; done
	@$(MAKE) --no-print-directory $(MULTILANG_DIR)/storm.py $(MULTILANG_DIR)/storm.js
	@$(MAKE) --no-print-directory -C examples/webanalytics/browsertest deps

# fetch-storm-lib ARTIFACT SHA256 FILE OUT: download a multilang jar, check
# its checksum, and extract one file of it.
define fetch-storm-lib
	@mkdir -p .deps
	@if ! echo "$(2)  .deps/$(1).jar" | sha256sum -c --status 2>/dev/null; then \
		echo "fetching $(1) $(STORM_VERSION) (Apache Storm's multilang library)"; \
		curl -fsSL -o .deps/$(1).jar.tmp $(STORM_MAVEN)/$(1)/$(STORM_VERSION)/$(1)-$(STORM_VERSION).jar && \
		mv .deps/$(1).jar.tmp .deps/$(1).jar; \
	fi
	@echo "$(2)  .deps/$(1).jar" | sha256sum -c --status || { echo ".deps/$(1).jar: checksum mismatch"; exit 1; }
	@python3 -c 'import sys, zipfile; open(sys.argv[3], "wb").write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' .deps/$(1).jar $(3) $(4)
endef

$(MULTILANG_DIR)/storm.py:
	$(call fetch-storm-lib,multilang-python,$(STORM_PY_SHA256),resources/storm.py,$@)
$(MULTILANG_DIR)/storm.js:
	$(call fetch-storm-lib,multilang-javascript,$(STORM_JS_SHA256),resources/storm.js,$@)

## test: install deps, lint, check generated code, and run every test suite.
test: deps lint check-generate test-go test-python test-typescript

test-python test-typescript: test-%: deps
	@if [ -f sdk/$*/Makefile ]; then $(MAKE) --no-print-directory -C sdk/$* test; fi

# The etcd tests must not skip the external server in `make test`.
test-go: export GALE_REQUIRE_EXTERNAL_ETCD = 1
test-go: export GALE_REQUIRE_DEPS = 1
test-go:
	$(GO) test -count=1 -timeout 15m ./...
	$(GO) test -count=1 -race -timeout 15m $(RACE_PKGS)

lint: tools
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' ; git ls-files --others --exclude-standard '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	# Gale builds, and vets, on macOS too (node/external and node/rtsched
	# have their Linux parts in _linux files).
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...
	$(BIN)/buf lint

tools: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc

$(BIN)/buf:
	GOBIN=$(BIN) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(BIN)/protoc-gen-go-grpc:
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

## generate: regenerate the protobuf code from proto/.
generate: tools
	$(BIN)/buf generate
	@for d in $(SDK_DIRS); do $(MAKE) --no-print-directory -C $$d generate || exit 1; done

## check-generate: fail if the committed generated code differs from a fresh generation.
check-generate: generate
	@if ! git diff --quiet -- $(GENERATED) || [ -n "$$(git ls-files --others --exclude-standard $(GENERATED))" ]; then \
		echo "generated code is out of date: run 'make generate' and commit"; git status --short $(GENERATED); exit 1; fi

bench: build
	./gale bench

clean:
	rm -rf gale $(BIN)
