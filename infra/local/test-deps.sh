#!/usr/bin/env bash
# Installs what the tests need and this machine lacks, so that `make test`
# (and CI, which runs the same target) works on a fresh Debian machine:
#   Azurite 3.35.0    Blob Storage emulator, pinned in infra/local/package-lock.json (npm ci)
#   chromium          the headless browser that checks the coverage report page
#   python3-qpid-proton  the AMQP 1.0 library of the Service Bus stand-in broker
# Debian packages are installed with apt-get as root, or through sudo; when
# neither is possible it stops and names the packages to install.
set -euo pipefail
cd "$(dirname "$0")"

die() { echo "test-deps: $*" >&2; exit 1; }

command -v node >/dev/null || die "Node.js 20 with npm is needed for Azurite; install Debian's nodejs and npm packages"
command -v npm >/dev/null || die "npm is needed for Azurite; install Debian's npm package"

if [ ! -x node_modules/.bin/azurite-blob ] || [ package-lock.json -nt node_modules/.bin/azurite-blob ]; then
  echo "test-deps: installing Azurite (npm ci --prefix infra/local)"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.bin/azurite-blob
fi

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
/usr/bin/python3 -c 'import proton' 2>/dev/null || need+=(python3-qpid-proton)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  die "the tests need the Debian packages ${need[*]}; install them as root: apt-get install -y --no-install-recommends ${need[*]}"
fi
command -v apt-get >/dev/null || die "the tests need ${need[*]} and this machine has no apt-get; install them with its package manager"

echo "test-deps: installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq || die "apt-get update failed; install ${need[*]} by hand"
for p in "${need[@]}"; do
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "$p" >/dev/null ||
    die "could not install the Debian package $p (apt-get install $p failed)"
  echo "test-deps: installed $p"
done
