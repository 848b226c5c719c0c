#!/bin/sh
# Runs "$@" (a torture child) under strace, failing every $SET system call on
# one path with $ERRNO. The path is $DIR, or with ON=temp the temporary file
# the child will make: $PREFIX<pid>$SUFFIX. strace -D keeps the child this
# shell's own process (strace becomes a detached grandchild), so its pid, and
# with the child's fixed random bytes its temporary file's name, is known
# here before it starts.
P="$DIR"
[ "$ON" = temp ] && P="$PREFIX$$$SUFFIX"
exec strace -D -f -q -o "$TRACE" -e trace="$SET" \
  -e inject="$SET":error="$ERRNO" -P "$P" -- "$@"
