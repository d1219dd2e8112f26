# etcdaudit — see README.md. `make demo` and `make test` are the two set-up
# commands; everything they need is built or installed by them.
SHELL := /bin/bash
GO ?= go
ETCD_CACHE := $(CURDIR)/.cache/etcd
export ETCDAUDIT_ETCD_DIR := $(ETCD_CACHE)
TEST_FLAGS ?= -race -timeout 40m
BIN := bin/etcdaudit

.PHONY: build test test-short lint etcd-binaries deps demo bench fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/etcdaudit

# deps installs the Debian packages the tests run for real (etcd 3.4, Chromium,
# Prometheus, node_exporter, Pushgateway) when it can, or says what to run.
deps:
	@./scripts/deps.sh

etcd-binaries:
	@./scripts/etcd-binaries.sh

test: deps etcd-binaries lint
	$(GO) test $(TEST_FLAGS) ./...

# test-short needs nothing but Go: in-process embed 3.5 only.
test-short:
	$(GO) test -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

demo: build
	./$(BIN) demo

bench: deps etcd-binaries build
	./scripts/bench.sh

fuzz:
	$(GO) test ./inventory -run '^$$' -fuzz FuzzLoad -fuzztime 60s

clean:
	rm -rf bin .cache
