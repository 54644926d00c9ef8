#!/usr/bin/env bash
# The hyper load benchmark: the hello-world server of examples/hyper_server.rs on creche and on
# tokio (the same handler, one worker per core each) under wrk, on loopback.
#
#   bash benches/hyper_load.sh [--write]
#
# Installs wrk (Debian's package) if it is missing, builds the example in release, then for
# each of ROUNDS rounds runs creche then tokio: start the server on 127.0.0.1 (a free port),
# warm up (wrk for WARMUP seconds), measure (wrk -t THREADS -c CONNECTIONS -d DURATION), stop
# the server. Prints each run's requests/s, the mean per runtime and the creche/tokio ratio
# (higher is better for creche), with the core count. Server and load generator share the
# machine's cores. With --write, the table goes into BENCHMARKS.md between
# `<!-- hyper_load:begin -->` and `<!-- hyper_load:end -->`.
#
# Environment: DURATION (s, default 10), WARMUP (s, default 2), CONNECTIONS (default 64),
# THREADS (wrk threads, default 2), ROUNDS (default 2).
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
WRITE=0
[[ "${1:-}" == "--write" ]] && WRITE=1

if ! command -v wrk >/dev/null; then
    echo "hyper_load: installing wrk (apt-get)"
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq && apt-get install -y -qq wrk >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null
    fi
fi

cargo build --release --example hyper_server
SERVER=target/release/examples/hyper_server
CORES=$(nproc)
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT

# run RUNTIME: prints the measured requests/s of one run.
run() {
    local runtime=$1 out="$LOG/server-$1.txt" addr="" pid
    # The server stops by itself after a bound, should this script die.
    "$SERVER" --runtime "$runtime" --addr 127.0.0.1:0 --seconds $((WARMUP + DURATION + 30)) >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        addr=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$out")
        [[ -n "$addr" ]] && break
        sleep 0.1
    done
    if [[ -z "$addr" ]]; then
        echo "hyper_load: the $runtime server did not start:" >&2
        cat "$out" >&2
        kill "$pid" 2>/dev/null || true
        exit 1
    fi
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" "$addr/" >/dev/null
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "$addr/" >"$LOG/wrk.txt"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local rps
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$LOG/wrk.txt")
    if [[ -z "$rps" ]] || grep -q "Non-2xx\|Socket errors" "$LOG/wrk.txt"; then
        echo "hyper_load: wrk against $runtime reported errors:" >&2
        cat "$LOG/wrk.txt" >&2
    fi
    echo "${rps:-0}"
}

declare -a CRECHE TOKIO
for round in $(seq "$ROUNDS"); do
    c=$(run creche)
    echo "round $round: creche $c requests/s"
    t=$(run tokio)
    echo "round $round: tokio  $t requests/s"
    CRECHE+=("$c")
    TOKIO+=("$t")
done

TABLE=$(
    python3 - "$CORES" "$THREADS" "$CONNECTIONS" "$DURATION" "$WARMUP" "${CRECHE[*]}" "${TOKIO[*]}" <<'EOF'
import sys
cores, threads, conns, duration, warmup = sys.argv[1:6]
creche = [float(x) for x in sys.argv[6].split()]
tokio = [float(x) for x in sys.argv[7].split()]
mean = lambda xs: sum(xs) / len(xs)
fmt = lambda x: f"{x:,.0f}"
runs = lambda xs: ", ".join(fmt(x) for x in xs)
print(f"Requests per second (wrk, higher is better): the hello-world server of "
      f"`examples/hyper_server.rs` on each runtime, `wrk -t{threads} -c{conns} -d{duration}s` "
      f"after a {warmup} s warm-up, runs alternating creche/tokio. Cores: {cores}, shared by "
      f"the server ({cores} worker threads) and wrk ({threads} threads). "
      f"Command: `bash benches/hyper_load.sh --write`\n")
print("| server | runs (requests/s) | mean requests/s | creche/tokio |")
print("|---|---|---:|---:|")
print(f"| creche | {runs(creche)} | {fmt(mean(creche))} | {mean(creche) / mean(tokio):.2f}× |")
print(f"| tokio | {runs(tokio)} | {fmt(mean(tokio))} | 1.00× |")
EOF
)
echo
echo "$TABLE"

if [[ $WRITE -eq 1 ]]; then
    python3 - "$TABLE" <<'EOF'
import sys
path, begin, end = "BENCHMARKS.md", "<!-- hyper_load:begin -->", "<!-- hyper_load:end -->"
doc = open(path).read()
b, e = doc.find(begin), doc.find(end)
if b < 0 or e < b:
    sys.exit("hyper_load: BENCHMARKS.md lacks the hyper_load markers; not written")
open(path, "w").write(doc[: b + len(begin)] + "\n" + sys.argv[1].strip() + "\n" + doc[e:])
print("hyper_load: table written to BENCHMARKS.md")
EOF
fi
