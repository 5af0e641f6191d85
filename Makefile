# Vigil is always built with the FTS5 full-text engine of go-sqlite3.
GO      ?= go
TAGS    := sqlite_fts5
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
DATA    ?= ./data

.PHONY: build run test bench vet fuzz

build:
	$(GO) build -tags $(TAGS) -ldflags "$(LDFLAGS)" -o bin/vigil .

run: build
	./bin/vigil serve --data $(DATA)

test:
	$(GO) vet -tags $(TAGS) ./...
	$(GO) test -tags $(TAGS) -count=1 -timeout 15m ./...

# Benchmarks: durable HTTP ingest and queries at 1M rows (store), see BENCHMARKS.md.
bench:
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

# Fuzz each decoder briefly (CI): FUZZTIME per target.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz '^FuzzFrameReader$$' -fuzztime $(FUZZTIME) ./ingest
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./ingest
