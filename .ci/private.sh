#!/usr/bin/env bash
# Runs a command in a copy of this checkout placed in a private (0700)
# directory, as a clone under /root is: the tests that drop to `nobody`
# must not need to read the checkout (issue 11.5). node_modules is
# hard-linked (copied across file systems), so the runtimes are private too.
# Usage: bash .ci/private.sh COMMAND [ARGS...]
#   e.g. bash .ci/private.sh bash .ci/test.sh tests/permissions_test.ts
set -uo pipefail
cd "$(dirname "$0")/.."
private=$(mktemp -d "${TMPDIR:-/tmp}/atomic-private-XXXXXX")
trap 'rm -rf "$private"' EXIT
trap 'exit 130' INT TERM HUP
chmod 700 "$private"
copy="$private/checkout"
mkdir "$copy"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard |
    tar --null -T - -cf - | tar -xf - -C "$copy"
else
  tar --exclude=./node_modules -cf - . | tar -xf - -C "$copy"
fi
modules=$(readlink -f node_modules)
cp -al "$modules" "$copy/node_modules" 2>/dev/null ||
  cp -a "$modules" "$copy/node_modules"
echo "in $copy (mode $(stat -c %a "$private")): $*"
cd "$copy" && "$@"
