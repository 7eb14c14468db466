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

# Packages whose concurrency matters run under the race detector.
RACE_PKGS := ./router/... ./node/... ./sdk/... ./examples/... ./coordinator/...

.PHONY: all build test test-go lint generate check-generate tools bench clean

all: build

build:
	$(GO) build -o gale ./cmd/gale

## test: lint, check generated code, and run every test suite.
test: lint check-generate test-go

test-go:
	$(GO) test -count=1 -timeout 15m ./...
	$(GO) test -count=1 -race -timeout 15m $(RACE_PKGS)

lint: tools
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' ; git ls-files --others --exclude-standard '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
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

## check-generate: fail if the committed generated code differs from a fresh generation.
check-generate: generate
	@if ! git diff --quiet -- proto || [ -n "$$(git ls-files --others --exclude-standard proto)" ]; then \
		echo "generated code is out of date: run 'make generate' and commit"; git status --short proto; exit 1; fi

bench: build
	./gale bench

clean:
	rm -rf gale $(BIN)
