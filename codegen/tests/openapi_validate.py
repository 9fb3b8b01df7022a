"""Validates OpenAPI documents (JSON or YAML) with openapi-spec-validator.

    python3 openapi_validate.py FILE...

Each file is checked twice: by openapi-spec-validator (the document against the OpenAPI 3.1
schema, every Schema Object against JSON Schema 2020-12, references, path parameters, operation
ids, and some defaults), and then every `default` of every Schema Object is validated against
its schema, `$ref`s resolved (the validator skips a `default` next to a `$ref`).

Prints `FILE: OK` or `FILE: FAILED` with the validator's errors for each file; exits 0 when
every file is valid, 1 when one is not, 2 when the validator is not installed. Needs

    pip install openapi-spec-validator "openapi-schema-validator[ecma-regex]"

The `ecma-regex` extra (the `regress` package) makes the validator read `pattern` as ECMA-262,
as JSON Schema says, rather than as a Python regex. Two settings bring the validator in line
with the standards it checks, each for one known shortcoming, and nothing else:

- `pattern`s are compiled with ECMA-262's `u` flag, so `\\p{Lu}` is a Unicode class (JSON Schema
  strings are Unicode; without `u` the validator reads `\\p` as the letter `p`);
- a `date-time` whose seconds are `60` (a leap second, valid RFC 3339) is checked as `59`
  (rfc3339-validator does not support leap seconds).
"""

import sys
import urllib.parse

try:
    import regress
    from openapi_schema_validator import _regex
    from openapi_schema_validator import OAS31Validator
    from openapi_schema_validator import oas31_format_checker
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012
except ImportError as error:
    print(
        f"openapi_validate.py: {error}; install the validator with\n"
        '    pip install openapi-spec-validator "openapi-schema-validator[ecma-regex]"',
        file=sys.stderr,
    )
    sys.exit(2)


def unicode_regex(pattern):
    return regress.Regex(pattern, "u")


_regex._REGEX_CLASS = unicode_regex

_date_time, _raises = oas31_format_checker.checkers["date-time"]


def date_time(instance):
    if isinstance(instance, str) and instance[16:19] == ":60":
        instance = instance[:17] + "59" + instance[19:]
    return _date_time(instance)


oas31_format_checker.checks("date-time", _raises)(date_time)


DOCUMENT = "urn:openapi-validate:document"


def walk(parts, schema):
    """Yields (path, schema) for a Schema Object and every schema inside it."""
    if not isinstance(schema, dict):
        return
    yield parts, schema
    for key in ("items", "additionalProperties", "propertyNames", "not"):
        yield from walk(parts + (key,), schema.get(key))
    for name, sub in schema.get("properties", {}).items():
        yield from walk(parts + ("properties", name), sub)
    for key in ("allOf", "anyOf", "oneOf"):
        for index, sub in enumerate(schema.get(key, [])):
            yield from walk(parts + (key, index), sub)


def media_schemas(parts, content):
    for media, media_type in content.items():
        for key in ("schema", "x-svcgen-item-schema"):
            yield from walk(parts + ("content", media, key), media_type.get(key))


def all_schemas(document):
    """Yields (path, schema) for every Schema Object of an OpenAPI 3.1 document."""
    components = document.get("components", {})
    for name, schema in components.get("schemas", {}).items():
        yield from walk(("components", "schemas", name), schema)
    for kind in ("parameters", "headers"):
        for name, holder in components.get(kind, {}).items():
            yield from walk(("components", kind, name, "schema"), holder.get("schema"))
    for name, response in components.get("responses", {}).items():
        yield from media_schemas(("components", "responses", name), response.get("content", {}))
    for path, item in document.get("paths", {}).items():
        for verb, operation in item.items():
            at = ("paths", path, verb)
            for index, parameter in enumerate(operation.get("parameters", [])):
                yield from walk(at + ("parameters", index, "schema"), parameter.get("schema"))
            body = operation.get("requestBody", {})
            yield from media_schemas(at + ("requestBody",), body.get("content", {}))
            for status, response in operation.get("responses", {}).items():
                yield from media_schemas(at + ("responses", status), response.get("content", {}))


def pointer(parts):
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def default_errors(document):
    """Every `default` that its own schema rejects, as messages."""
    registry = Registry().with_resource(DOCUMENT, DRAFT202012.create_resource(document))
    for parts, schema in all_schemas(document):
        if "default" not in schema:
            continue
        at = pointer(parts)
        validator = OAS31Validator(
            {"$ref": DOCUMENT + "#" + urllib.parse.quote(at, safe="/~")},
            registry=registry,
            format_checker=oas31_format_checker,
        )
        for error in validator.iter_errors(schema["default"]):
            yield f"default of {at}: {error.message}"


def main(files):
    failed = 0
    for name in files:
        try:
            spec, base_uri = read_from_filename(name)
            validate(spec, base_uri=base_uri)
            errors = list(default_errors(spec))
            if errors:
                raise ValueError("\n".join(errors))
        except Exception as error:  # noqa: BLE001 - any failure to read or validate is a finding
            failed += 1
            print(f"{name}: FAILED\n{error}\n")
        else:
            print(f"{name}: OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
