# The two commands a newcomer needs: `make run` and `make test`.
.PHONY: run test build bench fuzz proto

# pipefail: a failing go test must fail make even when piped through grep.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

run:
	go run ./cmd/parley serve

# test is the command CI runs (.ci/run). It needs PostgreSQL and NATS on
# 127.0.0.1 (see README); .ci/run starts them when they are down.
# The MLS conformance package runs verbosely so its per-file table of
# verified vectors is printed (go test hides a passing package's output).
test:
	go test $$(go list ./... | grep -v /mls/conformance)
	go test -v ./mls/conformance | grep -v -e '^=== RUN' -e '^--- PASS' -e '^    --- PASS' -e '^PASS$$'

build:
	CGO_ENABLED=0 go build -o bin/parley ./cmd/parley

bench:
	go test -run '^$$' -bench . -benchmem ./mls/...

proto:
	protoc --go_out=. --go_opt=module=github.com/parleyhq/parley proto/parley.proto

# fuzz runs every Fuzz target for FUZZTIME each (the default test run only
# replays their seed corpora). For a long soak: make fuzz FUZZTIME=1h
FUZZTIME ?= 30s
fuzz:
	@for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$dir/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "== $$dir $$f"; \
	    go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$dir || exit 1; \
	  done; \
	done
