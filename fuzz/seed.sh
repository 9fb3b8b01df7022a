#!/bin/sh
# Copies every example and fixture .svc into fuzz/corpus/parse (gitignored), as seeds.
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$root/fuzz/corpus/parse"
cd "$root"
find examples tests/fixtures -name '*.svc' | while read -r f; do
    cp "$f" "fuzz/corpus/parse/seed_$(echo "$f" | tr '/' '_')"
done
echo "seeded $(ls fuzz/corpus/parse | wc -l) files in fuzz/corpus/parse"
