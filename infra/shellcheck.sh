#!/usr/bin/env bash
# Runs shellcheck on the deployment scripts (make lint). shellcheck is the
# Debian package of that name: installed here when missing and apt-get can
# run as root (directly or through sudo), otherwise a clear failure.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v shellcheck >/dev/null; then
	sudo=()
	[[ $(id -u) == 0 ]] || sudo=(sudo -n)
	if command -v apt-get >/dev/null && "${sudo[@]}" true 2>/dev/null; then
		echo "installing shellcheck (Debian package)..." >&2
		"${sudo[@]}" apt-get install -y -qq shellcheck >/dev/null ||
			{ "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq shellcheck >/dev/null; }
	fi
	command -v shellcheck >/dev/null || {
		echo "make lint needs shellcheck: apt-get install shellcheck (Debian/Ubuntu)" >&2
		exit 1
	}
fi
exec shellcheck ./*.sh local/*.sh
