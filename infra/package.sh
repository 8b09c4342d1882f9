#!/usr/bin/env bash
# Builds the deployment package: dist/handler (linux/amd64, CGO_ENABLED=0,
# mode 0755), dist/host.json, dist/<function>/function.json and dist/app.zip
# (execute bit preserved). Needs only the Go toolchain.
#
#   infra/package.sh            # from anywhere in the repository
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${GO:-go}" run ./infra/cmd/package -root . -out dist "$@"
