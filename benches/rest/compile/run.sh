#!/usr/bin/env bash
# Compile time of the code generated for a 200-method service: svcgen against tonic-build.
#
#   benches/rest/compile/run.sh            # RUNS=5 METHODS=200 by default
#
# 1. gen_inputs.py writes the same service as big.svc and big.proto;
# 2. `svcgen generate` (the main workspace's CLI) writes svcgen-svc/src/gen/, and tonic-gen
#    (tonic-prost-build with its defaults: messages, client and server) writes tonic-svc/src/gen/;
# 3. both crates are built once, so that every dependency is compiled;
# 4. then, RUNS times and alternating which goes first, each crate is cleaned
#    (`cargo clean -p`, only that crate) and built again: `cargo build` (dev profile, as a
#    developer builds) and `cargo check` (as an editor or clippy does). The median is reported.
#
# Everything this workspace builds goes to $CARGO_TARGET_DIR (default /tmp/svcgen-compile-target),
# not to the main workspace's target/. Needs python3 and protoc (`apt-get install protobuf-compiler`).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
runs=${RUNS:-5}
methods=${METHODS:-200}
target=${CARGO_TARGET_DIR:-/tmp/svcgen-compile-target}
inputs="$target/inputs"
command -v protoc >/dev/null || { echo "run.sh: protoc is needed (apt-get install protobuf-compiler)" >&2; exit 1; }

python3 "$here/gen_inputs.py" "$inputs" "$methods"
rm -rf "$here/svcgen-svc/src/gen" "$here/tonic-svc/src/gen"
mkdir -p "$here/tonic-svc/src/gen"
# The svcgen CLI of this checkout, built in the main workspace's own target dir.
(cd "$root" && cargo run -q -p svcgen-codegen --bin svcgen -- generate "$inputs/big.svc" -o "$here/svcgen-svc/src/gen" >/dev/null)

export CARGO_TARGET_DIR="$target"
cd "$here"
cargo run -q -p tonic-gen -- "$inputs/big.proto" "$here/tonic-svc/src/gen"

echo "== generated code"
for f in svcgen-svc/src/gen/big.rs tonic-svc/src/gen/big.rs; do
    printf '%-28s %7d lines %9d bytes\n' "$f" "$(wc -l <"$f")" "$(wc -c <"$f")"
done

echo "== building the dependencies once"
cargo build -q -p svcgen-svc -p tonic-svc
cargo check -q -p svcgen-svc -p tonic-svc

now() { date +%s.%N; }
declare -A times
for i in $(seq 1 "$runs"); do
    if (( i % 2 )); then order="svcgen-svc tonic-svc"; else order="tonic-svc svcgen-svc"; fi
    for mode in build check; do
        for crate in $order; do
            cargo clean -q -p "$crate"
            start=$(now)
            cargo "$mode" -q -p "$crate"
            t=$(echo "$(now) - $start" | bc)
            times[$crate.$mode]+="$t "
            printf 'run %d  %-5s %-11s %6.2f s\n' "$i" "$mode" "$crate" "$t"
        done
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo
echo "== median of $runs clean builds of the crate alone (dependencies already built), seconds"
printf '| %-8s | %10s | %10s | %12s |\n' "command" "svcgen" "tonic" "svcgen/tonic"
printf '|---|---:|---:|---:|\n'
for mode in build check; do
    s=$(echo "${times[svcgen-svc.$mode]}" | median)
    t=$(echo "${times[tonic-svc.$mode]}" | median)
    printf '| cargo %-5s | %10.2f | %10.2f | %12.2f |\n' "$mode" "$s" "$t" "$(echo "$s / $t" | bc -l)"
done
