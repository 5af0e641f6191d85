# Vigil is always built with the FTS5 full-text engine of go-sqlite3.
GO      ?= go
TAGS    := sqlite_fts5
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
DATA    ?= ./data
# SQLite (compiled by go-sqlite3's cgo) without its memory statistics: with
# them, every allocation takes a global mutex. SQLite recommends this
# setting; Vigil never reads those statistics. TCP intake ran 10-15 % faster
# for the same messages (BENCHMARKS.md, "Intake against the code before the
# architecture step"). An explicit CGO_CFLAGS keeps its own flags and gains
# this one; -g -O2 are Go's defaults when it is unset.
export CGO_CFLAGS := $(or $(CGO_CFLAGS),-g -O2) -DSQLITE_DEFAULT_MEMSTATUS=0
# make run HTTP=127.0.0.1:9090: the console's and API's address (--http);
# unset, vigil takes VIGIL_HTTP or 127.0.0.1:8080.
HTTP    ?=

.PHONY: build run test bench bench-syslog bench-binary vet fuzz assets screenshots release syslog-ng

# The console's third-party assets (htmx) come from the npm registry at the
# versions pinned in package-lock.json and are embedded in the binary
# (package ui embeds ui/views and ui/static).
VENDOR := ui/static/vendor/htmx.min.js

assets: $(VENDOR)

$(VENDOR): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	mkdir -p $(dir $(VENDOR))
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)

build: assets
	$(GO) build -tags $(TAGS) -ldflags "$(LDFLAGS)" -o bin/vigil .

# The release binary is linked statically (cgo with the flags go-sqlite3
# documents: -linkmode external -extldflags -static), so dist/vigil runs on
# any Linux of its architecture and in an empty container image. Tags:
# sqlite_omit_load_extension (no dlopen in a static binary), osusergo and
# netgo (no glibc NSS), timetzdata (--syslog-tz works without
# /usr/share/zoneinfo). The Dockerfile runs exactly this target.
RELEASE_TAGS    := $(TAGS) sqlite_omit_load_extension osusergo netgo timetzdata
RELEASE_LDFLAGS := -s -w $(LDFLAGS) -linkmode external -extldflags -static

release: assets
	CGO_ENABLED=1 $(GO) build -trimpath -tags "$(RELEASE_TAGS)" -ldflags "$(RELEASE_LDFLAGS)" -o dist/vigil .

run: build
	./bin/vigil serve --data $(DATA)$(if $(HTTP), --http $(HTTP))

# .ci/test-deps installs what the tests run (chromium, rsyslog, logger,
# syslog-ng, ...) when it can (root and apt-get); a test whose program is
# still missing is skipped and recorded in the file VIGIL_TEST_SKIPS, and
# the run ends with one "SKIPPED GROUP" line per group. The exit status is
# go test's. VIGIL_TEST_REQUIRE_ALL=1 (.ci/run) makes every such skip a failure.
# The store's tests run twice: on SQLite, and on PostgreSQL (a throwaway
# server, internal/pgtest; store/engine_test.go).
test: assets
	@./.ci/test-deps
	$(GO) vet -tags $(TAGS) ./...
	@skips=$$(mktemp "$${TMPDIR:-/tmp}/vigil-test-skips.XXXXXX"); \
	echo "VIGIL_TEST_SKIPS=$$skips $(GO) test -tags $(TAGS) -count=1 -timeout 15m ./..."; \
	VIGIL_TEST_SKIPS=$$skips $(GO) test -tags $(TAGS) -count=1 -timeout 15m ./...; status=$$?; \
	echo "VIGIL_TEST_STORE=postgres VIGIL_TEST_SKIPS=$$skips $(GO) test -tags $(TAGS) -count=1 -timeout 15m ./store"; \
	VIGIL_TEST_STORE=postgres VIGIL_TEST_SKIPS=$$skips $(GO) test -tags $(TAGS) -count=1 -timeout 15m ./store || status=1; \
	./.ci/test-deps --summary $$skips; rm -f $$skips; exit $$status
	@# The syslog interop corpus, pass counts per source (ingest/testdata/interop).
	@$(GO) test -tags $(TAGS) -count=1 -run '^TestInteropCorpus$$' -v ./ingest | grep -a 'corpus:'

# loggen comes from Debian's syslog-ng-core, unpacked (not installed: it
# conflicts with rsyslog) into LOGGEN_DIR.
LOGGEN_DIR ?= $(CURDIR)/.cache/syslog-ng
LOGGEN_ENV := LD_LIBRARY_PATH=$(LOGGEN_DIR)/usr/lib/syslog-ng SYSLOGNG_PREFIX=$(LOGGEN_DIR)/usr VIGIL_LOGGEN=$(LOGGEN_DIR)/usr/bin/loggen

$(LOGGEN_DIR)/usr/bin/loggen:
	mkdir -p $(LOGGEN_DIR)/deb
	cd $(LOGGEN_DIR)/deb && apt-get download syslog-ng-core
	dpkg-deb -x $(LOGGEN_DIR)/deb/syslog-ng-core_*.deb $(LOGGEN_DIR)

# syslog-ng itself, from the same package, for the syslog-ng snippet of
# docs/agents.md (TestAgentSnippets); it needs libivykis0, libnet1, libwrap0
# and libpcre3 installed.
syslog-ng: $(LOGGEN_DIR)/usr/bin/loggen

bench-syslog: $(LOGGEN_DIR)/usr/bin/loggen
	$(LOGGEN_ENV) $(GO) test -tags $(TAGS) -run '^$$' -bench '^BenchmarkLoggen$$' -benchtime 1x -v -timeout 20m ./ingest

# The benchmark harness, in one go, each benchmark run once: the release
# binary (dist/vigil) as a black box, fed BENCH_BINARY_MSGS messages by
# loggen over TCP and as many events over HTTP NDJSON by tools/ndjsonload,
# and rsyslog writing a file fed the same loggen traffic; loggen to
# Vigil's TCP listener and to rsyslog writing a file, in process; TCP syslog intake into
# an empty store and into one already holding BENCH_STORED events, and the
# store writer's ceiling; durable HTTP NDJSON intake; queries and export at
# each of BENCH_ROWS events; peak memory under full load; then the same
# binary on PostgreSQL (a server of internal/pgtest, fsync on) beside SQLite
# in one run, one node and two nodes on one database, BENCH_PG_MSGS
# messages over TCP and over HTTP each, and the queries and export at each
# of BENCH_ROWS events with the store on PostgreSQL. The raw output
# goes to BENCH_LOG (under .cache/, not in git), and tools/benchreport
# appends a dated section with the machine and the targets to BENCHMARKS.md.
# If a run fails, the section is only printed and the target fails; the raw
# log stays. At the default sizes it takes about an hour of both cores
# (half of it BenchmarkBinary and the PostgreSQL query fill) and ~20 GB of
# temporary disk: run it on an otherwise idle machine.
BENCH_STORED ?= 10000000
BENCH_BINARY_MSGS ?= 10000000
BENCH_PG_MSGS ?= 1000000
BENCH_ROWS   ?= 1000000,10000000
BENCH_LOG    ?= .cache/bench/bench-$(BENCH_STAMP).log
BENCH_STAMP  := $(shell date -u +%Y%m%dT%H%M%SZ)
BENCH_REPORT := .cache/bench/benchreport
# The command as typed, for the report: sizes only when they were changed.
BENCH_CMD    := make bench$(if $(filter-out file,$(origin BENCH_BINARY_MSGS)), BENCH_BINARY_MSGS=$(BENCH_BINARY_MSGS))$(if $(filter-out file,$(origin BENCH_PG_MSGS)), BENCH_PG_MSGS=$(BENCH_PG_MSGS))$(if $(filter-out file,$(origin BENCH_STORED)), BENCH_STORED=$(BENCH_STORED))$(if $(filter-out file,$(origin BENCH_ROWS)), BENCH_ROWS=$(BENCH_ROWS))

# bench-run WHAT,ENV,PATTERN,PACKAGE: one go test run, its output added to
# BENCH_LOG and its exit status recorded there for the report.
define bench-run
{ $(2) $(GO) test -tags $(TAGS) -run '^$$' -bench '$(3)' -benchtime 1x -timeout 60m $(4); \
  echo "# bench exit $$? $(1)"; } 2>&1 | tee -a $(BENCH_LOG)
endef

# BenchmarkBinary alone: the release binary driven as a black box, with
# rsyslog writing a file fed the same loggen traffic (package main).
BINARY_BENCH_ENV = $(LOGGEN_ENV) VIGIL_BINARY=$(CURDIR)/dist/vigil VIGIL_BENCH_BINARY_MSGS=$(BENCH_BINARY_MSGS)

bench-binary: release $(LOGGEN_DIR)/usr/bin/loggen
	$(BINARY_BENCH_ENV) $(GO) test -tags $(TAGS) -run '^$$' -bench '^BenchmarkBinary$$' -benchtime 1x -v -timeout 60m .

bench: release $(LOGGEN_DIR)/usr/bin/loggen
	mkdir -p $(sort $(dir $(BENCH_LOG) $(BENCH_REPORT)))
	$(GO) build -o $(BENCH_REPORT) ./tools/benchreport
	# Let the machine settle first (writeback of what ran before, a test
	# suite just finished): flush, then wait, at most 2 minutes, for the
	# 1-minute load average to fall under 0.5. The header records it.
	sync
	@i=0; while [ $$i -lt 60 ] && awk '{ exit !($$1 >= 0.5) }' /proc/loadavg; do sleep 2; i=$$((i+1)); done
	$(BENCH_REPORT) -header -command '$(BENCH_CMD)' > $(BENCH_LOG)
	$(call bench-run,binary,$(BINARY_BENCH_ENV),^BenchmarkBinary$$,.)
	$(call bench-run,ingest,$(LOGGEN_ENV) VIGIL_BENCH_STORED=$(BENCH_STORED),^(BenchmarkLoggen|BenchmarkTCPIngest|BenchmarkStoreAppend)$$,./ingest)
	$(call bench-run,handlers,,^BenchmarkHTTPIngest$$,./handlers)
	$(call bench-run,store,VIGIL_BENCH_ROWS=$(BENCH_ROWS),^BenchmarkQueries$$,./store)
	$(call bench-run,vigil,,^BenchmarkPeakRSS$$,.)
	$(call bench-run,postgres,$(LOGGEN_ENV) VIGIL_BINARY=$(CURDIR)/dist/vigil VIGIL_BENCH_PG_MSGS=$(BENCH_PG_MSGS),^BenchmarkBinaryPostgres$$,.)
	$(call bench-run,store-postgres,VIGIL_BENCH_ROWS=$(BENCH_ROWS),^BenchmarkQueriesPostgres$$,./store)
	echo "# bench end: $$(date -u +%Y-%m-%dT%H:%M:%SZ)" >> $(BENCH_LOG)
	echo "# bench loadavg-end: $$(cut -d' ' -f1-3 /proc/loadavg)" >> $(BENCH_LOG)
	$(BENCH_REPORT) -append BENCHMARKS.md $(BENCH_LOG)

# Fuzz each decoder and the verifier briefly (CI): FUZZTIME per target.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz '^FuzzFrameReader$$' -fuzztime $(FUZZTIME) ./ingest
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./ingest
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz '^FuzzDecodeBatch$$' -fuzztime $(FUZZTIME) ./ingest
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz '^FuzzOpenCheckpoint$$' -fuzztime $(FUZZTIME) ./model
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz '^FuzzVerifyTamper$$' -fuzztime $(FUZZTIME) ./store

# Screenshots of the console for the README, taken by the browser tests.
screenshots: assets
	VIGIL_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -tags $(TAGS) -count=1 -run 'TestConsoleInBrowser|TestWatchPagesInBrowser|TestDashboardInBrowser|TestConsoleLayoutInBrowser' ./handlers/
