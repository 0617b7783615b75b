# The two commands a newcomer needs: `make run` and `make test`.
.PHONY: run test build bench fuzz proto

run:
	go run ./cmd/parley serve

# test is the command CI runs (.ci/run). It needs PostgreSQL and NATS on
# 127.0.0.1 (see README); .ci/run starts them when they are down.
test:
	go test ./...

build:
	CGO_ENABLED=0 go build -o bin/parley ./cmd/parley

bench:
	go test -run '^$$' -bench . -benchmem ./mls/...

proto:
	protoc --go_out=. --go_opt=module=github.com/parleyhq/parley proto/parley.proto
