#!/usr/bin/env bash
# Prints the Linux errno table (number, name) from the kernel's headers, in
# the form src/runtime/_errno.ts keeps it; tests/errno_test.ts compares the
# two. Usage: bash .ci/errno_table.sh [include dir]   (default /usr/include)
set -euo pipefail
dir=${1:-/usr/include}/asm-generic
grep -hE '^#define[[:space:]]+E[A-Z0-9]+[[:space:]]+[0-9]+' \
  "$dir/errno-base.h" "$dir/errno.h" |
  awk '{ printf "  [%s, \"%s\"],\n", $3, $2 }'
