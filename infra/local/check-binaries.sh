#!/usr/bin/env bash
# Fails when git tracks an executable binary (ELF, Mach-O or PE): build
# outputs belong in bin/ and dist/, never in the repository.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
found=0
while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue
  magic=$(od -An -tx1 -N4 "$f" | tr -d ' \n')
  case "$magic" in
    7f454c46|feedface|feedfacf|cefaedfe|cffaedfe|4d5a*)
      echo "tracked executable binary: $f (remove it with git rm --cached, and ignore it)"
      found=1 ;;
  esac
done < <(git ls-files -z)
exit "$found"
