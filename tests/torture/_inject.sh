#!/bin/sh
# Runs "$@" (a torture child) under strace, failing every $SET system call on
# one path with $ERRNO. The path is $DIR, or with ON=temp the temporary file
# the child will make: $PREFIX<pid>$SUFFIX. strace -D keeps the child this
# shell's own process (strace becomes a detached grandchild), so its pid, and
# with the child's fixed random bytes its temporary file's name, is known
# here before it starts. strace -P compares a path argument as spelled: a
# write that holds its directory open names the temporary file through
# /proc/self/fd/N/ (see "Directories other users may write to" in the
# README), so those spellings are selected too, for every descriptor N a
# fresh child may hold its directory as.
P="$DIR"
[ "$ON" = temp ] && P="$PREFIX$$$SUFFIX"
set -- -P "$P" -- "$@"
if [ "$ON" = temp ]; then
  name=$(basename "$P")
  i=127
  while [ "$i" -ge 3 ]; do
    set -- -P "/proc/self/fd/$i/$name" "$@"
    i=$((i - 1))
  done
fi
exec strace -D -f -q -o "$TRACE" -e trace="$SET" \
  -e inject="$SET":error="$ERRNO" "$@"
