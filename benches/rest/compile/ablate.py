#!/usr/bin/env python3
"""Where the compile time of the generated code goes: builds parts of it.

Run after run.sh (which writes both generated files and builds the dependencies), from this
folder, with the same CARGO_TARGET_DIR: `./ablate.py [RUNS]`. For each variant it writes a
reduced copy of the generated file in place of the real one, cleans the crate, and times
`cargo build -p` (best of RUNS, default 3); the real files are put back at the end.
`./ablate.py RUNS svcgen` or `./ablate.py RUNS tonic` does one side only.

svcgen variants: the 420 structs alone (with and without their serde derives, with and without
`Validate`), then with the service trait, the server, the client, all of it. tonic variants:
the messages alone, with the client, with the server, all of it.
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3


def items(text):
    """Top-level items of a prettyplease-formatted file: each ends with `}` in column 0."""
    out, current = [], []
    for line in text.splitlines(keepends=True):
        current.append(line)
        if line.rstrip("\n") == "}":
            out.append("".join(current))
            current = []
    if current:
        out.append("".join(current))
    return out


def kind(item):
    for line in item.splitlines():
        if line.startswith(("#", "///", "//", " ", ")", "\t")) or not line.strip():
            continue
        if line.startswith("pub trait"):
            return "trait"
        if line.startswith("mod __svcgen"):
            return "private"
        if "BigServer" in line:
            return "server"
        if line.startswith("impl BigClient"):
            return "client-inherent"
        if "BigClient" in line:
            return "client"
        if "Validate for" in line:
            return "validate"
        if line.startswith("pub struct"):
            return "struct"
        return "other"
    return "other"


def only_derive(item, keep):
    """The struct with one of its two serde derives."""
    drop = "Deserialize" if keep == "Serialize" else "Serialize"
    return re.sub(rf",\s*::svcgen::__private::serde::{drop}\b", "", item)


def no_serde(item):
    item = re.sub(r",\s*::svcgen::__private::serde::Serialize,\s*::svcgen::__private::serde::Deserialize\s*", "", item)
    item = re.sub(r"#\[serde\([^\]]*\)\]\n", "", item)
    return re.sub(r"\s*#\[serde\([^\]]*\)\]", "", item)


def timed_build(crate):
    best = None
    for _ in range(RUNS):
        subprocess.run(["cargo", "clean", "-q", "-p", crate], check=True, cwd=HERE)
        start = time.monotonic()
        # Warnings (fields a reduced variant leaves unread) are not shown; errors are.
        build = subprocess.run(["cargo", "build", "-q", "-p", crate], cwd=HERE, capture_output=True, text=True)
        elapsed = time.monotonic() - start
        if build.returncode != 0:
            sys.exit(build.stderr)
        best = elapsed if best is None else min(best, elapsed)
    return best


def run(crate, path, variants):
    original = path.read_text()
    try:
        for name, text in variants(original):
            path.write_text(text)
            lines = text.count("\n")
            print(f"| {crate} | {name} | {lines} | {timed_build(crate):.2f} |", flush=True)
    finally:
        path.write_text(original)


def svcgen_variants(text):
    parts = items(text)
    pick = lambda *kinds: "".join(p for p in parts if kind(p) in kinds)
    structs = [p for p in parts if kind(p) == "struct"]
    yield "structs (serde derives) + Validate", pick("struct", "validate", "other")
    yield "structs (serde derives), no Validate", pick("struct", "other")
    yield "structs (`Serialize` only), no Validate", "".join(only_derive(p, "Serialize") for p in structs)
    yield "structs (`Deserialize` only), no Validate", "".join(only_derive(p, "Deserialize") for p in structs)
    yield "structs, no serde, no Validate", "".join(no_serde(p) for p in structs)
    yield "+ trait", pick("struct", "validate", "other", "trait")
    yield "+ trait + server (+ private args, descriptor)", pick("struct", "validate", "other", "trait", "server", "private")
    yield "+ trait + client (+ private args, descriptor)", pick(
        "struct", "validate", "other", "trait", "client", "client-inherent", "private"
    )
    yield "everything but the client's inherent methods", pick(
        "struct", "validate", "other", "trait", "server", "client", "private"
    )
    yield "everything", text


def tonic_variants(text):
    client = text.index("/// Generated client implementations.")
    server = text.index("/// Generated server implementations.")
    messages, client_mod, server_mod = text[:client], text[client:server], text[server:]
    yield "messages (prost derives)", messages
    yield "+ client", messages + client_mod
    yield "+ server", messages + server_mod
    yield "everything", text


if __name__ == "__main__":
    os.environ.setdefault("CARGO_TARGET_DIR", "/tmp/svcgen-compile-target")
    only = sys.argv[2] if len(sys.argv) > 2 else None
    print(f"best of {RUNS} clean `cargo build -p` of the crate, seconds\n")
    print("| crate | generated code kept | lines | seconds |")
    print("|---|---|---:|---:|")
    if only in (None, "svcgen"):
        run("svcgen-svc", HERE / "svcgen-svc/src/gen/big.rs", svcgen_variants)
    if only in (None, "tonic"):
        run("tonic-svc", HERE / "tonic-svc/src/gen/big.rs", tonic_variants)
