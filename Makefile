GO      ?= go
BIN     := bin/handler
PKGS    := ./...

.PHONY: build test lint run bench package azurite clean

build:
	$(GO) build -o $(BIN) ./functions

# Installs Azurite (pinned in infra/local/package-lock.json) for the Blob tests.
azurite: infra/local/node_modules/.bin/azurite-blob
infra/local/node_modules/.bin/azurite-blob: infra/local/package-lock.json
	npm ci --prefix infra/local --no-audit --no-fund
	touch $@

test: azurite
	$(GO) test -count=1 -timeout 30m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

clean:
	rm -rf bin dist .local
