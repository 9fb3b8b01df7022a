#!/usr/bin/env bash
# Cross-check of the server figures with wrk (`apt-get install wrk`): the bench binary serves
# the three servers (SVCGEN_BENCH_SERVE), and wrk drives each in turn, interleaved, on one
# thread, for POST /echo and GET /items/{id}.
#
#   benches/rest/wrk.sh            # ROUNDS=3 SECS=3 CONNECTIONS=32 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${ROUNDS:-3}
secs=${SECS:-3}
connections=${CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "wrk.sh: wrk is needed (apt-get install wrk)" >&2; exit 1; }

bin=$(cargo bench -p svcgen-bench-rest --no-run 2>&1 | sed -n 's/.*Executable.*(\(.*\/rest-[0-9a-f]*\)).*/\1/p' | tail -1)
dir=$(mktemp -d)
SVCGEN_BENCH_SERVE="$dir" "$bin" >"$dir/addresses" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 50); do grep -q '^bare' "$dir/addresses" 2>/dev/null && break; sleep 0.1; done

cat >"$dir/echo.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$dir/echo.json"):read("*a")
wrk.headers["content-type"] = "application/json"
wrk.headers["x-correlation-id"] = "4bf92f3577b34da6a3ce929d0e0e4736"
wrk.headers["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
LUA
cat >"$dir/item.lua" <<LUA
wrk.path = "/items/4242"
wrk.headers["x-correlation-id"] = "4bf92f3577b34da6a3ce929d0e0e4736"
wrk.headers["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
LUA

echo "wrk -t1 -c$connections -d${secs}s, $rounds interleaved rounds"
for scenario in echo item; do
    path=/echo; [[ $scenario == item ]] && path=/items/4242
    for round in $(seq "$rounds"); do
        for target in svcgen equivalent bare; do
            url=$(awk -v t="$target" '$1 == t {print $2}' "$dir/addresses")
            out=$(wrk -t1 -c"$connections" -d"${secs}s" --latency -s "$dir/$scenario.lua" "$url$path")
            rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
            p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
            p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
            errors=$(grep -c 'Non-2xx' <<<"$out" || true)
            printf '%-5s round %d  %-10s %10s req/s   p50 %8s   p99 %8s%s\n' \
                "$scenario" "$round" "$target" "$rps" "$p50" "$p99" "$([[ $errors != 0 ]] && echo '   NON-2xx!')"
        done
    done
done
