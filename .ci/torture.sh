#!/usr/bin/env bash
# Runs the torture suite (tests/torture/, see its README) with Node 24: real
# SIGKILLs, strace fault injection, the durable protocol, a full tmpfs,
# writers as nobody and many writers at once, on Deno, Bun and Node 24.
# Needs root for mount and setpriv (those cases skip, saying why, without).
# Usage: bash .ci/torture.sh [--families=crash,faults,protocol,full-disk,privileges,contention]
#          [--runtimes=deno,bun,node] [--only=TEXT] [--kills=N] [--keep]
#        ATOMIC_IMPL=naive bash .ci/torture.sh   # against plain fs.writeFile: must fail
set -uo pipefail
cd "$(dirname "$0")/.."
exec node_modules/node/bin/node tests/torture/run.ts "$@"
