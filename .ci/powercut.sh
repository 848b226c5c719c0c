#!/usr/bin/env bash
# Runs the power-cut suite (tests/powercut/, issue 11) with Node 24: ext4 and
# xfs images on loop devices, shut down with `xfs_io -x -c shutdown` while a
# writer replaces a file. Needs root, loop devices, mkfs.ext4, mkfs.xfs and
# xfs_io; without them it prints SKIP and why, and tests nothing.
# Usage: bash .ci/powercut.sh [--quick] [--seed=N] [--fs=…] [--runtimes=…]
#        [--writers=…] [--cuts=N] [--case=FS/RUNTIME/WRITER --cut=K]
# Every image lives under one temp dir; the trap unmounts and detaches
# whatever is left there, even if Node itself was killed.
set -uo pipefail
cd "$(dirname "$0")/.."
base=$(mktemp -d "${TMPDIR:-/tmp}/powercut-run-XXXXXX")
cleanup() {
  if command -v findmnt >/dev/null; then
    findmnt -rn -o TARGET | grep -F "$base/" | sort -r |
      while read -r dir; do umount -l "$dir"; done
  fi
  if command -v losetup >/dev/null; then
    losetup -ln -O NAME,BACK-FILE 2>/dev/null |
      awk -v base="$base/" 'index($2, base) == 1 { print $1 }' |
      while read -r device; do losetup -d "$device"; done
  fi
  rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
TMPDIR=$base node_modules/node/bin/node tests/powercut/run.ts "$@"
