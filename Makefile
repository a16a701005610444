# hoard's developer entry points. `make` (or `make help`) lists the targets.
#
# The repository is a Go workspace (go.work): the root module plus one module
# per heavy adapter or store and the examples. Every target that runs go over
# "every module" asks the workspace for the module directories with
# `go list -m -f '{{.Dir}}'` and runs inside each, stopping at the first error.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go

# Tests that need external services (Redis, MongoDB, DynamoDB, ...) fail rather
# than skip when this is 1. Override with `make test HOARD_REQUIRE_SERVICES=0`.
HOARD_REQUIRE_SERVICES ?= 1
export HOARD_REQUIRE_SERVICES

# Runs its argument (a shell command) in every workspace module's directory.
define each_module
dirs=$$($(GO) list -m -f '{{.Dir}}'); \
for dir in $$dirs; do \
	echo "==> $$dir"; \
	(cd "$$dir" && $(1)) || exit 1; \
done
endef

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-6s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: test
test: ## Start the services tests need (if any), then vet and race-test every module
	@if [ -x scripts/services.sh ]; then \
		scripts/services.sh up; \
		set -a; eval "$$(scripts/services.sh env)"; set +a; \
	fi; \
	$(call each_module,$(GO) vet ./... && $(GO) test -race -count=1 ./...); \
	$(call run_fuzz,$(FUZZ_SMOKE))

# Fuzz targets, as directory:FuzzName. `make test` runs each for FUZZ_SMOKE;
# `make fuzz` for FUZZ_TIME.
FUZZ_TARGETS := \
	core:FuzzBinaryCodecDecode \
	core:FuzzStreamDecode \
	codecs:FuzzJSONDecode \
	codecs:FuzzGzipDecode \
	codecs:FuzzSignedDecode \
	codecs:FuzzEncryptedDecode \
	codecs/cborcodec:FuzzCBORDecode \
	codecs/bsoncodec:FuzzBSONDecode \
	codecs/zstdcodec:FuzzZstdDecode
FUZZ_SMOKE ?= 3s
FUZZ_TIME ?= 5m

define run_fuzz
for t in $(FUZZ_TARGETS); do \
	dir=$${t%%:*}; name=$${t##*:}; \
	echo "==> fuzz $$dir $$name ($(1))"; \
	(cd "$$dir" && $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(1) .) || exit 1; \
done
endef

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZ_TIME (default 5m each)
	@$(call run_fuzz,$(FUZZ_TIME))

.PHONY: bench
bench: ## Run every module's benchmarks (no tests)
	@$(call each_module,$(GO) test -run '^$$' -bench . -benchmem ./...)

.PHONY: outage
outage: ## Kill and freeze private Redis, FerretDB and dynalite servers under load; print the outage table (about 2 min)
	@if [ -x scripts/services.sh ]; then \
		scripts/services.sh up; \
		set -a; eval "$$(scripts/services.sh env)"; set +a; \
	fi; \
	out=$$(mktemp); \
	for dir in stores/redisstore stores/mongostore stores/dynamostore; do \
		echo "==> $$dir" >&2; \
		(cd "$$dir" && HOARD_OUTAGE_FULL=1 $(GO) test -count=1 -run '^TestOutage$$' -v . >>"$$out" 2>&1) || \
			{ grep -v '^20[0-9][0-9]/' "$$out" >&2; rm -f "$$out"; exit 1; }; \
	done; \
	echo; \
	grep -m1 -A1 '^OUTAGE-HEADER ' "$$out" | sed 's/^OUTAGE-HEADER //'; \
	sed -n 's/^OUTAGE //p' "$$out"; \
	rm -f "$$out"

.PHONY: demo
demo: ## Run the offline demo: 100 requests against a slow local origin, through the cache
	cd examples && $(GO) run ./demo

.PHONY: fmt
fmt: ## Format every Go file (gofmt -s)
	gofmt -s -w .

.PHONY: vet
vet: ## Run go vet in every module
	@$(call each_module,$(GO) vet ./...)

.PHONY: tidy
tidy: ## Run go mod tidy in every module
	@$(call each_module,$(GO) mod tidy)
