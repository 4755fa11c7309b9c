#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with the .NET SDK: installs the real peers
# the end-to-end tests drive, then runs every test project.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-test-deps.sh
dotnet test Detach.sln -c Release "$@"
