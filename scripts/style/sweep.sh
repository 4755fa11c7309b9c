#!/usr/bin/env bash
# The code-style sweep (docs/code-style.md): brings the tree in line with .editorconfig, then proves it with a build
# that enforces the rules. Run from anywhere; it works on the repository it lives in. Re-run it after merging a
# branch written before the rules: it only renames what breaks them, so a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."

# 1. Renames dotnet format cannot make: private fields to _camelCase (constants and static readonly to PascalCase),
#    CancellationToken parameters named ct/token to cancellationToken. By symbol, through Roslyn's semantic model.
dotnet build scripts/style/StyleSweep -c Release -nologo -v q
dotnet run --no-build -c Release --project scripts/style/StyleSweep -- Detach.sln

# 2. Braces on every embedded statement (IDE0011), by dotnet format's own fixer.
dotnet format style Detach.sln --diagnostics IDE0011 --severity warn

# 3. The proof: the whole solution (src, tests, fuzz, bench) builds with the rules as errors.
dotnet build Detach.sln -c Release -nologo
