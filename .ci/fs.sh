#!/usr/bin/env bash
# Runs the file-system matrix (tests/fs/, see its README) with Node 24: the
# core behaviours (the writes, the updates and their lock) on ext4, xfs,
# btrfs, tmpfs, overlayfs, a read-only mount, exFAT (FUSE), sshfs over
# loopback and bind-mounted targets, on Deno, Bun and Node 24. Needs root,
# loop devices and FUSE: each part that cannot run here is skipped with the
# reason, never counted as passing.
# Usage: bash .ci/fs.sh [--families=ext4,xfs,btrfs,tmpfs,overlay,read-only,exfat,sshfs,bind,bind-same]
#          [--runtimes=deno,bun,node] [--only=TEXT] [--keep]
# The runner undoes its mounts itself; the trap below also undoes whatever a
# killed run left in its directory (mounts, loop devices, its sshd).
set -uo pipefail
cd "$(dirname "$0")/.."
PATH=$PATH:/usr/sbin:/sbin
dir=$(mktemp -d /tmp/atomic-matrix-XXXXXX)
keep=false
for arg in "$@"; do [ "$arg" = --keep ] && keep=true; done

cleanup() {
  # Deepest mount first: bind mounts and the overlay before what holds them.
  awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r mnt; do umount "$mnt" 2>/dev/null || umount -l "$mnt"; done
  for image in "$dir"/*.img; do
    [ -e "$image" ] || continue
    losetup -j "$image" | cut -d: -f1 | while read -r dev; do losetup -d "$dev"; done
  done
  if [ -f "$dir/matrix-sshd/sshd.pid" ]; then
    kill "$(cat "$dir/matrix-sshd/sshd.pid")" 2>/dev/null
  fi
  $keep || rm -rf "$dir"
}

node_modules/node/bin/node tests/fs/run.ts --dir="$dir" "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; cleanup; exit 130' INT TERM HUP
wait "$pid"
status=$?
cleanup
exit "$status"
