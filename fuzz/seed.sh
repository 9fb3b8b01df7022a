#!/bin/sh
# Seeds the fuzz corpora (gitignored):
# - fuzz/corpus/parse: every example and fixture .svc;
# - fuzz/corpus/frame: one well-formed RPC frame of every kind, and all of them in a row;
# - fuzz/corpus/serve: requests to the `serve` target's `fuzz.Echo` service, with pings and cancels.
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$root/fuzz/corpus/parse" "$root/fuzz/corpus/frame" "$root/fuzz/corpus/serve"
cd "$root"
find examples tests/fixtures -name '*.svc' | while read -r f; do
    cp "$f" "fuzz/corpus/parse/seed_$(echo "$f" | tr '/' '_')"
done
echo "seeded $(ls fuzz/corpus/parse | wc -l) files in fuzz/corpus/parse"

# Frames (octal escapes: POSIX printf has no \x): length u32, kind, flags, call u32, body.
frame() { printf "$2" > "fuzz/corpus/frame/seed_$1"; }
# Request 1 to `a.B`/`m`, correlation `c`, no trace, 1000 ms, metadata k=v, payload {} (0x80).
frame request '\000\000\000\040\001\000\000\000\000\001\000\003a.B\000\001m\000\001c\000\000\000\000\003\350\000\001\000\001k\000\001v\200'
frame reply '\000\000\000\007\002\000\000\000\000\001\001'
frame error '\000\000\000\007\003\000\000\000\000\001\200'
frame stream_item '\000\000\000\007\004\000\000\000\000\001\005'
frame stream_end '\000\000\000\006\005\000\000\000\000\001'
frame cancel '\000\000\000\006\006\000\000\000\000\001'
frame ping '\000\000\000\006\007\000\000\000\000\007'
frame pong '\000\000\000\006\010\000\000\000\000\007'
frame goaway '\000\000\000\013\011\000\000\000\000\003\000\003bye'
cat fuzz/corpus/frame/seed_* > fuzz/corpus/frame/seed_all
echo "seeded $(ls fuzz/corpus/frame | wc -l) files in fuzz/corpus/frame"

# Requests to `fuzz.Echo`: method (4 letters), call id (one octal byte), payload 0x01.
req() { printf "\000\000\000\043\001\000\000\000\000$2\000\011fuzz.Echo\000\004$1\000\001c\000\000\000\000\000\000\000\000\001"; }
serve() { cat > "fuzz/corpus/serve/seed_$1"; }
for m in echo drip note fail nope; do req "$m" '\001' | serve "$m"; done
{ req echo '\001'; req drip '\002'; req note '\003'; req fail '\004'; req nope '\005'; } | serve all
{ req drip '\001'; printf '\000\000\000\006\006\000\000\000\000\001'; printf '\000\000\000\006\007\000\000\000\000\011'; } | serve cancel_ping
{ req echo '\001'; printf '\000\000\000\013\011\000\000\000\000\000\000\003bye'; req echo '\002'; } | serve goaway
echo "seeded $(ls fuzz/corpus/serve | wc -l) files in fuzz/corpus/serve"
