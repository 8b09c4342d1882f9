GO   ?= go
BIN  := bin/handler
PKGS := ./...

.PHONY: build test test-deps lint run bench soak fuzz package deploy clean azurite

build:
	$(GO) build -o $(BIN) ./functions

# Azurite, pinned in infra/local/package-lock.json, for Blob Storage locally.
azurite: infra/local/node_modules/.bin/azurite-blob
infra/local/node_modules/.bin/azurite-blob: infra/local/package-lock.json
	npm ci --prefix infra/local --no-audit --no-fund
	touch $@

# What the tests need and a fresh machine lacks: Azurite (npm ci), and
# Debian's chromium and python3-qpid-proton (apt-get, as root or by sudo).
test-deps:
	@infra/local/test-deps.sh

# Every test: unit, protocol-level, end-to-end against Azurite (with the
# short fault suite), then a short pass of every fuzz target. A plain
# `go test ./...` skips the tests whose tools (Node.js for Azurite, Chromium,
# python3-qpid-proton) are missing; here such a skip is a failure.
REQUIRE_TOOLS := VCC_INGEST_REQUIRE_TOOLS=1
test: test-deps
	$(REQUIRE_TOOLS) $(GO) test -count=1 -timeout 45m $(PKGS)
	$(MAKE) --no-print-directory fuzz

# Fuzz targets as package:target; each gets FUZZTIME of new inputs on top of
# its checked-in seed corpus (testdata/fuzz/<target>). A count, not a
# duration: with a duration, Go 1.26's fuzz coordinator can report its own
# deadline as a failure on a loaded machine (golang/go#75804, fixed in 1.27);
# 50000 inputs take about 4 to 9 s a target here.
FUZZTIME ?= 50000x
FUZZ_TARGETS := \
	shared/invoke:FuzzHostRequest shared/invoke:FuzzServiceBus \
	shared/message:FuzzDecode \
	shared/vcc:FuzzContentPage shared/vcc:FuzzStatsPage shared/vcc:FuzzUsersPage \
	shared/store:FuzzRecordingName shared/store:FuzzValidateName \
	shared/webhook:FuzzVerify shared/customhandler:FuzzEventsTenant
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done

# The long fault suite: 1,000 interactions, more kills, more runs.
soak: azurite
	$(REQUIRE_TOOLS) VCC_INGEST_SOAK=1 $(GO) test -count=1 -timeout 60m -run '^TestFaults' -v ./functions

# The figures of README's "Measured" section: prints the table and writes
# .local/bench/bench.json (a few minutes; run on an otherwise idle machine).
bench: build azurite
	$(BIN) bench --dir .local/bench

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) build -tags product -o /dev/null ./functions
	@infra/local/check-binaries.sh
	infra/shellcheck.sh

# One sandbox day through the whole pipeline on this machine: VCC sandbox,
# Azurite, embedded queue, the custom handler invoked as the host would.
# The sandbox is not a shared VCC account, so the run may use a larger rate
# budget than the 160 requests/min a real account gets (override to compare).
run: build azurite
	rm -rf .local/run
	VCC_RATE_PER_MINUTE=$${VCC_RATE_PER_MINUTE:-1200} $(BIN) local --sandbox --azurite --data .local/run

clean:
	rm -rf bin dist .local

# Deployment package: dist/handler (linux/amd64, CGO_ENABLED=0, mode 0755),
# host.json, <function>/function.json and dist/app.zip (execute bit kept).
package:
	$(GO) run ./infra/cmd/package -root . -out dist

# Deploys the templates and the package:
#   make deploy RG=<resource-group> [PARAMS=infra/env/prod.bicepparam]
PARAMS ?= infra/main.bicepparam
deploy:
	@test -n "$(RG)" || { echo "usage: make deploy RG=<resource-group> [PARAMS=file.bicepparam]"; exit 1; }
	infra/deploy.sh $(RG) $(PARAMS)
