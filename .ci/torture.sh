#!/usr/bin/env bash
# Runs the torture suite (tests/torture/run.ts, issue 3) with Node 24: real
# SIGKILLs, strace fault injection, a full tmpfs, writers as nobody, many
# writers at once and the durable protocol, on Deno, Bun and Node 24.
# Needs root for mount and setpriv (those cases skip, saying why, without).
# Usage: bash .ci/torture.sh [--items=1,2] [--runtimes=deno,bun] [--kills=N] [--keep]
#        ATOMIC_IMPL=naive bash .ci/torture.sh   # against plain fs.writeFile: must fail
set -uo pipefail
cd "$(dirname "$0")/.."
exec node_modules/node/bin/node tests/torture/run.ts "$@"
