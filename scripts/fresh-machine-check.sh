#!/usr/bin/env bash
# Checks that README.md's set-up holds on a fresh machine: a clone of the committed HEAD into a
# temporary directory, built with a new CARGO_TARGET_DIR, with pkg-config finding nothing (no
# system libzmq can sneak in) and with chromium and chromedriver hidden from PATH. It then
#   1. builds the release binaries;
#   2. runs `cargo run --release --bin kinect-server` (README's first command) for a few seconds
#      in a private network namespace (it announces over mDNS), started in the background as a
#      script would, stops it with SIGINT and expects exit status 0;
#   3. runs `cargo test --workspace` (README's second command): it must pass, the browser tests
#      skipping themselves with a line that says how to install Chromium;
#   4. checks with ldd that no binary links a shared libzmq (the bundled one is static);
#   5. runs `cargo install --path . --locked` (and crates/sk2-bench) into a temporary root and asks
#      every installed tool for --version.
# It prints how long each step took.
#
# Not part of .ci/run: it is two more cold builds of the workspace (fat-LTO release, then the
# debug test build) plus a second `cargo test --workspace`. Measured on a 2-core machine shared
# with other builds (load average ~19): 30 min for the release build alone, and the test step
# longer still, against a CI budget of 45 min for a run that takes ~15. Run it by hand after
# changing dependencies, build scripts or README's set-up.
#
# Usage: scripts/fresh-machine-check.sh [--keep]
#   --keep      leave the temporary directory (clone, target, logs) for inspection
#   FRESH_TARGET_DIR=DIR  reuse DIR as the target directory (a warm re-run; not a cold build)
#   FRESH_SERVER_SECONDS  how long the server runs before SIGINT (default 3)
# Needs: git, ldd, unshare and ip (for step 2), and about 4 GB of free disk for the target directory.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
keep=false
[ "${1:-}" = "--keep" ] && keep=true
work="$(mktemp -d "${TMPDIR:-/tmp}/sk2-fresh.XXXXXX")"
cleanup() {
  if $keep; then echo "left in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

say() { printf '\n=== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
started_at=$(date +%s)
timings=()
timed() { # timed LABEL COMMAND...: runs it, records its wall time, returns its status
  local label=$1 t0 status=0
  shift
  t0=$(date +%s)
  "$@" || status=$?
  timings+=("$(printf '%-34s %5d s' "$label" $(($(date +%s) - t0)))")
  return "$status"
}

say "fresh clone of $(git -C "$repo" rev-parse --short HEAD) (committed state only)"
git clone -q --no-local "$repo" "$work/src"
cd "$work/src"

export CARGO_TARGET_DIR="${FRESH_TARGET_DIR:-$work/target}"
# Nothing for pkg-config to find: PKG_CONFIG_LIBDIR replaces the system's default .pc directories.
export PKG_CONFIG_PATH="$work/no-pkgconfig" PKG_CONFIG_LIBDIR="$work/no-pkgconfig"
# PATH without chromium and chromedriver: each directory that holds one is replaced by a copy
# made of symlinks to everything else in it.
hidden_path=()
IFS=: read -r -a path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
  if [ -e "$dir/chromium" ] || [ -e "$dir/chromedriver" ]; then
    shadow="$work/path/$(printf '%s' "$dir" | tr / _)"
    mkdir -p "$shadow"
    for entry in "$dir"/*; do
      case "$(basename "$entry")" in chromium | chromedriver) ;; *) ln -s "$entry" "$shadow/" ;; esac
    done
    hidden_path+=("$shadow")
  else
    hidden_path+=("$dir")
  fi
done
PATH="$(IFS=:; echo "${hidden_path[*]}")"
export PATH
! command -v chromium >/dev/null || fail "chromium still on PATH"
! command -v chromedriver >/dev/null || fail "chromedriver still on PATH"
! pkg-config --exists libzmq 2>/dev/null || fail "pkg-config still finds libzmq"
unset SK2_REQUIRE_TOOLS # a newcomer's machine, not CI

say "build: cargo build --release --bins"
timed "release build (bins)" nice cargo build --release --bins

say "README command 1: cargo run --release --bin kinect-server (private netns, then SIGINT)"
server_out="$work/server.out" server_err="$work/server.err"
# Started as a script starts a service: in the background of a non-interactive shell, which
# leaves SIGINT ignored in the child; the server must stop on it all the same.
unshare --net --map-root-user sh -c 'ip link set lo up && ip link set lo multicast on &&
  ip route add 224.0.0.0/4 dev lo && exec cargo run --release --bin kinect-server' \
  >"$server_out" 2>"$server_err" &
server_pid=$!
for _ in $(seq 1 600); do
  grep -q '^control: ' "$server_out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$server_err"; fail "kinect-server exited early"; }
  sleep 0.1
done
grep -q '^control: ' "$server_out" || { cat "$server_err"; fail "kinect-server printed no control line"; }
grep -q '^device ' "$server_out" || fail "kinect-server printed no device line"
sleep "${FRESH_SERVER_SECONDS:-3}"
kill -INT "$server_pid"
t0=$(date +%s%N)
status=0
wait "$server_pid" || status=$?
stop_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$status" -eq 0 ] || { cat "$server_err"; fail "kinect-server exited with $status after SIGINT"; }
timings+=("$(printf '%-34s %5d ms' "kinect-server stop after SIGINT" "$stop_ms")")
sed 's/^/  /' "$server_out"

say "README command 2: cargo test --workspace (no chromium on PATH)"
test_log="$work/test.log"
if ! timed "cargo test --workspace" nice cargo test --workspace >"$test_log" 2>&1; then
  grep -E '^(test .* FAILED|failures:|---- )' "$test_log" | head -n 40 || true
  tail -n 40 "$test_log"
  fail "cargo test --workspace failed (log: $test_log; rerun with --keep)"
fi
passed=$(grep -Eo '[0-9]+ passed' "$test_log" | awk '{s += $1} END {print s}')
echo "passed: $passed"
grep '^SKIPPED ' "$test_log" | sed 's/^/  /' || true
grep -q '^SKIPPED .*apt-get install chromium chromium-driver' "$test_log" ||
  fail "no browser test said it skipped"

say "ldd: no shared libzmq"
for binary in "$CARGO_TARGET_DIR"/release/kinect-* "$CARGO_TARGET_DIR"/debug/kinect-*; do
  [ -f "$binary" ] && [ -x "$binary" ] || continue
  if ldd "$binary" | grep -i zmq; then fail "$binary links a shared libzmq"; fi
  printf '  %-16s %s\n' "$(basename "$binary")" "$(ldd "$binary" | awk '{print $1}' | tr '\n' ' ')"
done

say "cargo install --path . --locked (and crates/sk2-bench), then --version"
install_root="$work/install"
timed "cargo install (5 tools)" sh -c "nice cargo install -q --locked --root '$install_root' --path . &&
  nice cargo install -q --locked --root '$install_root' --path crates/sk2-bench"
for tool in kinect-server kinect-browse kinect-view kinect-codec kinect-bench; do
  version=$("$install_root/bin/$tool" --version) || fail "$tool --version failed"
  case "$version" in "$tool "*) ;; *) fail "$tool --version says: $version" ;; esac
  printf '  %s\n' "$version"
done

say "summary"
printf '  %s\n' "${timings[@]}"
printf '  %-34s %5d s\n' "total" $(($(date +%s) - started_at))
echo "fresh-machine check passed"
