GO   ?= go
BIN  := bin/handler
PKGS := ./...

.PHONY: build test lint run bench package deploy clean azurite

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
