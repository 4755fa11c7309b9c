#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with the .NET SDK: installs the real peers
# the end-to-end tests drive, then runs every test project.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-test-deps.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test Detach.sln -c Release "$@" 2>&1 | tee "$log" || status=$?
# One closing line over every test project: "N passed, N failed, N skipped".
awk '/^ +Passed: +[0-9]+$/ {p+=$2} /^ +Failed: +[0-9]+$/ {f+=$2} /^ +Skipped: +[0-9]+$/ {s+=$2}
     /Passed!|Failed!/ {for (i = 1; i <= NF; i++) {v = $(i+1); gsub(",", "", v);
       if ($i == "Passed:") p2 += v; if ($i == "Failed:") f2 += v; if ($i == "Skipped:") s2 += v}}
     END {if (p + f + s == 0) {p = p2; f = f2; s = s2}; printf "%d passed, %d failed, %d skipped\n", p, f, s}' "$log"
exit "$status"
