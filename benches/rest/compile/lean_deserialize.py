#!/usr/bin/env python3
"""An experiment for a proposed codegen change, not a benchmark of svcgen as it is.

serde's `#[derive(Deserialize)]` is most of the compile time of svcgen's generated code (see
ablate.py). This rewrites the generated file of run.sh so that every struct gets, instead of the
derive, a lean impl of the shape svcgen could emit: one `visit_map`, keys matched as `&str`
through one shared key type (no per-struct field enum, no `visit_seq`), missing fields
reported, unknown ones skipped, `#[serde(default)]` honoured. It then times clean
`cargo build -p svcgen-svc` (best of RUNS, default 3), with and without the rewrite, and puts
the real files back. Run after run.sh, from this folder: `./lean_deserialize.py [RUNS]`.
"""
import re
import sys
from pathlib import Path

import ablate

HERE = Path(__file__).resolve().parent
KEY = """
/// What the lean impls match map keys with (would live in the runtime's `__private`).
pub mod lean {
    use svcgen::__private::serde;
    pub struct Key<'de>(pub std::borrow::Cow<'de, str>);
    impl<'de> serde::Deserialize<'de> for Key<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Key<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a field name")
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                    Ok(Key(std::borrow::Cow::Borrowed(v)))
                }
                fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                    Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
                }
                fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                    Ok(Key(std::borrow::Cow::Owned(v)))
                }
            }
            d.deserialize_identifier(V)
        }
    }
}
"""


def lean(text):
    src = text.splitlines()
    out = []
    i = 0
    S = "::svcgen::__private::serde"
    while i < len(src):
        line = src[i]
        if "#[derive(" in line:
            block = [line]
            while not block[-1].rstrip().endswith(")]"):
                i += 1; block.append(src[i])
            text = "\n".join(block)
            lean = "serde::Deserialize" in text
            if lean:
                text = re.sub(r",\s*::svcgen::__private::serde::Deserialize", "", text)
            out.append(text); i += 1
            if not lean:
                continue
            # attributes up to the struct line
            while not re.match(r"^\s*(pub(\(super\))? )?struct \w+ \{$", src[i]):
                out.append(src[i]); i += 1
            m = re.match(r"^(\s*)(?:pub(?:\(super\))? )?struct (\w+) \{$", src[i])
            indent, name = m.group(1), m.group(2)
            out.append(src[i]); i += 1
            fields = []
            default = None
            while src[i] != indent + "}":
                l = src[i]
                d = re.search(r"#\[serde\((default(?: = \"([^\"]+)\")?)", l)
                if d:
                    default = d.group(2) or "default"
                f = re.match(r"^\s*pub(?:\(super\))? (\w+): (.*),$", l)
                if f:
                    fields.append((f.group(1), default)); default = None
                out.append(l); i += 1
            out.append(src[i]); i += 1
            lets = "".join(f"let mut f{k} = ::core::option::Option::None; " for k in range(len(fields)))
            arms = "".join(f'"{n}" => f{k} = ::core::option::Option::Some(map.next_value()?), ' for k, (n, _) in enumerate(fields))
            inits = []
            for k, (n, d) in enumerate(fields):
                if d is None:
                    inits.append(f'{n}: f{k}.ok_or_else(|| <A::Error as {S}::de::Error>::missing_field("{n}"))?')
                elif d == "default":
                    inits.append(f"{n}: f{k}.unwrap_or_default()")
                else:
                    inits.append(f"{n}: f{k}.unwrap_or_else({d})")
            out.append(f"""{indent}impl<'de> {S}::Deserialize<'de> for {name} {{
    {indent}    fn deserialize<D: {S}::Deserializer<'de>>(d: D) -> ::core::result::Result<Self, D::Error> {{
    {indent}        struct V;
    {indent}        impl<'de> {S}::de::Visitor<'de> for V {{
    {indent}            type Value = {name};
    {indent}            fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {{ f.write_str("struct {name}") }}
    {indent}            fn visit_map<A: {S}::de::MapAccess<'de>>(self, mut map: A) -> ::core::result::Result<{name}, A::Error> {{
    {indent}                {lets}
    {indent}                while let ::core::option::Option::Some(key) = map.next_key::<crate::lean::Key<'de>>()? {{
    {indent}                    match &*key.0 {{ {arms} _ => {{ map.next_value::<{S}::de::IgnoredAny>()?; }} }}
    {indent}                }}
    {indent}                ::core::result::Result::Ok({name} {{ {", ".join(inits)} }})
    {indent}            }}
    {indent}        }}
    {indent}        d.deserialize_map(V)
    {indent}    }}
    {indent}}}""")
            continue
        out.append(line); i += 1
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    gen, lib = HERE / "svcgen-svc/src/gen/big.rs", HERE / "svcgen-svc/src/lib.rs"
    original, original_lib = gen.read_text(), lib.read_text()
    print("| svcgen-svc | generated code | lines | seconds |")
    print("|---|---|---:|---:|")
    try:
        print(f"| | as generated (serde derives) | {original.count(chr(10))} | {ablate.timed_build('svcgen-svc'):.2f} |", flush=True)
        rewritten = lean(original)
        gen.write_text(rewritten)
        lib.write_text(original_lib + KEY)
        print(f"| | lean `Deserialize` impls | {rewritten.count(chr(10))} | {ablate.timed_build('svcgen-svc'):.2f} |", flush=True)
    finally:
        gen.write_text(original)
        lib.write_text(original_lib)
