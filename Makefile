# Vigil is always built with the FTS5 full-text engine of go-sqlite3.
GO      ?= go
TAGS    := sqlite_fts5
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
DATA    ?= ./data

.PHONY: build run test bench vet assets screenshots

# The console's third-party assets (htmx) come from the npm registry at the
# versions pinned in package-lock.json and are embedded in the binary.
VENDOR := static/vendor/htmx.min.js

assets: $(VENDOR)

$(VENDOR): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js

build: assets
	$(GO) build -tags $(TAGS) -ldflags "$(LDFLAGS)" -o bin/vigil .

run: build
	./bin/vigil serve --data $(DATA)

test: assets
	$(GO) vet -tags $(TAGS) ./...
	$(GO) test -tags $(TAGS) -count=1 -timeout 15m ./...

# Benchmarks: durable HTTP ingest and queries at 1M rows (store), see BENCHMARKS.md.
bench: assets
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

# Screenshots of the console for the README, taken by the browser tests.
screenshots: assets
	VIGIL_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -tags $(TAGS) -count=1 -run TestConsoleInBrowser ./handlers/
