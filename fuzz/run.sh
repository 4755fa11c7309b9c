#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that face the network (docs/fuzzing.md).
#
#   fuzz/run.sh [seconds-per-target] [target...]   build, instrument (SharpFuzz), run each target under afl-fuzz
#                                                  for that much CPU time (default 600; at most 4x that in wall time,
#                                                  or FUZZ_WALL_SECONDS when set)
#   fuzz/run.sh --regress [target...]              each target over its seeds and saved findings, no AFL (what CI runs)
#   fuzz/run.sh --list                             the targets and what each checks
#
# Targets run one after the other (one core each; the machine is shared). New crashes and hangs are copied to
# fuzz/findings/<target>/ (commit them with the fix: the regression run replays them). Work files: fuzz/.build/.
set -euo pipefail
cd "$(dirname "$0")"
project=Detach.Fuzz/Detach.Fuzz.csproj

if [ "${1:-}" = "--regress" ] || [ "${1:-}" = "--list" ]; then
  mode=${1#--}; shift
  exec dotnet run --project "$project" -c Release -- "$mode" "$@"
fi

seconds=${1:-600}
[ $# -gt 0 ] && shift
if ! command -v afl-fuzz >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends afl++ >/dev/null
  else
    echo "afl-fuzz is missing: apt-get install afl++" >&2; exit 1
  fi
fi

build=.build
# FUZZ_REUSE_BUILD=1 runs the targets as last built (to go on with a campaign without rebuilding).
if [ -z "${FUZZ_REUSE_BUILD:-}" ]; then
  rm -rf "$build/bin" "$build/plain"
  dotnet tool restore >/dev/null
  dotnet publish "$project" -c Release -o "$build/plain" >/dev/null
  cp -r "$build/plain" "$build/bin"
  # Instrument our own assemblies only: coverage of the runtime and packages would be noise. Instrumented code runs
  # only under Fuzzer.Run, so seeds and the target list come from the plain copy.
  for assembly in Detach.Crypto Detach.Mime Detach.Smtp Detach.Milter Detach.Vault detach; do
    dotnet tool run sharpfuzz "$build/bin/$assembly.dll" >/dev/null
  done
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(dotnet "$build/plain/Detach.Fuzz.dll" list | awk '{print $1}')

export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
summary=()
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" 'NF == 2 {last[$1] = $2} END {for (p in last) t += last[p]; printf "%d", t / hz}' "$work/cpu.log"
}
for target in "${targets[@]}"; do
  work="$build/$target"
  rm -rf "$work"
  dotnet "$build/plain/Detach.Fuzz.dll" seeds "$target" "$work/in"
  echo "== $target: ${seconds}s of CPU under afl-fuzz"
  afl-fuzz -i "$work/in" -o "$work/out" -V "${FUZZ_WALL_SECONDS:-$((seconds * 4))}" -t 20000 -m none \
    -- dotnet "$build/bin/Detach.Fuzz.dll" afl "$target" > "$work/afl.log" 2>&1 &
  afl=$!
  # CPU time of afl-fuzz and of the target processes (SharpFuzz runs the target in a child that afl-fuzz never
  # reaps, so the shell's own accounting misses it): the last reading of each process's utime + stime.
  while kill -0 "$afl" 2>/dev/null; do
    for pid in "$afl" $(pgrep -f "Detach.Fuzz.dll afl $target\$" || true); do
      if [ -r "/proc/$pid/stat" ]; then echo "$pid $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null)"; fi
    done >> "$work/cpu.log"
    if [ "$(cpu_seconds)" -ge "$seconds" ]; then
      kill -INT "$afl" 2>/dev/null || true
    fi
    sleep 2
  done
  wait "$afl" || true
  stats="$work/out/default/fuzzer_stats"
  execs=$(awk -F' *: *' '$1 == "execs_done" {print $2}' "$stats" 2>/dev/null || echo 0)
  paths=$(awk -F' *: *' '$1 == "corpus_count" {print $2}' "$stats" 2>/dev/null || echo 0)
  found=0
  mkdir -p "findings/$target"
  for file in "$work"/out/default/crashes/id:* "$work"/out/default/hangs/id:*; do
    [ -e "$file" ] || continue
    kind=$(basename "$(dirname "$file")")
    kind=${kind%es}; kind=${kind%s}
    cp "$file" "findings/$target/$kind-$(sha1sum "$file" | cut -c1-12)"
    found=$((found + 1))
  done
  rmdir "findings/$target" 2>/dev/null || true
  line="$target: $(cpu_seconds)s CPU, $execs execs, $paths paths, $found crashes/hangs"
  echo "$line"
  summary+=("$line")
done
printf '%s\n' "" "summary:" "${summary[@]}"
