#!/usr/bin/env bash
# The embedded store's file work per 1 MiB object against other layouts (layout.c says what each mode does), in
# interleaved rounds (the order reversed every other round), each mode in a fresh folder on the file system of DIR.
# BENCHMARKS.md ("a pack file instead of a file per object") has a run of it.
#
# Usage: bench/store-layout/run.sh   ROUNDS (3), OBJECTS (1000) per mode and round, DIR (/var/tmp), MODES
# Needs: a C compiler (cc).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
rounds="${ROUNDS:-3}"
objects="${OBJECTS:-1000}"
modes="${MODES:-file file-no-dirsync pack pack-group4}"
work="$(mktemp -d "${DIR:-/var/tmp}/detach-store-layout.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cc -O2 -Wall -o "$work/layout" "$here/layout.c"
printf 'round\tmode\tCPU ms per object\twall ms per object\n'
for round in $(seq 1 "$rounds"); do
  order="$modes"
  # Every other round runs the modes in reverse order: none always runs first, on the folder the last one left.
  [ $((round % 2)) -eq 0 ] && order="$(printf '%s\n' $modes | tac | tr '\n' ' ')"
  for mode in $order; do
    rm -rf "$work/store" && mkdir "$work/store"
    printf '%s\t' "$round"
    (cd "$work/store" && "$work/layout" "$mode" "$objects")
  done
done
