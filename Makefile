GO   ?= go
BIN  := bin/handler
PKGS := ./...

.PHONY: build test lint run bench package clean azurite

build:
	$(GO) build -o $(BIN) ./functions

# Azurite, pinned in infra/local/package-lock.json, for Blob Storage locally.
azurite: infra/local/node_modules/.bin/azurite-blob
infra/local/node_modules/.bin/azurite-blob: infra/local/package-lock.json
	npm ci --prefix infra/local --no-audit --no-fund
	touch $@

# Every test: unit, protocol-level, and end-to-end against Azurite.
test: azurite
	$(GO) test -count=1 -timeout 45m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# One sandbox day through the whole pipeline on this machine: VCC sandbox,
# Azurite, embedded queue, the custom handler invoked as the host would.
run: build azurite
	rm -rf .local/run
	$(BIN) local --sandbox --azurite --data .local/run

clean:
	rm -rf bin dist .local
