"""Data models: the bundled Smart Data Models and custom models, as JSON Schemas.

An NGSI-LD entity of a modelled type is reduced to key-values (the form the SDM schemas
describe: attribute -> value, relationship -> object) and validated with ``jsonschema``.
``$ref``s resolve inside the bundle (``common-schema.json`` by its public URLs); a
reference to a file that is not bundled resolves to an empty schema (that part goes
unchecked, listed in ``ModelRegistry.unresolved``) and the network is never used.

A custom model (``/dosi/v1/models``) names its attributes with kind, value type, unit
code, required, minimum/maximum and enum; it compiles to a JSON Schema validated the same
way, and its unit codes are checked on the normalized entity.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from dosi.ingest.errors import MappingError

SDM_ROOT = "smart-data-models"
_COMMON_URLS = (
    "https://smart-data-models.github.io/data-models/common-schema.json",
    "https://raw.githubusercontent.com/smart-data-models/data-models/master/common-schema.json",
)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
_VALUE_TYPES = {"number": "number", "integer": "integer", "string": "string",
                "boolean": "boolean", "datetime": "string", "object": "object",
                "array": "array"}
_ATTR_KEYS = {"kind", "valueType", "unitCode", "required", "minimum", "maximum", "enum",
              "description"}


def _root() -> Any:
    return resources.files("dosi.data").joinpath(SDM_ROOT)


@lru_cache(maxsize=1)
def sdm_index() -> dict[str, tuple[str, Any]]:
    """Entity type -> (subject, schema) of every bundled Smart Data Model."""
    out: dict[str, tuple[str, Any]] = {}
    for subject in (p for p in _root().iterdir() if p.is_dir()):
        for model in (p for p in subject.iterdir() if p.is_dir()):
            f = model.joinpath("schema.json")
            if f.is_file():
                out[model.name] = (subject.name, json.loads(f.read_text(encoding="utf-8")))
    return out


def sdm_context(entity_type: str) -> list[str] | None:
    """The @context URL of a bundled Smart Data Model's subject (dosi preloads it)."""
    hit = sdm_index().get(entity_type)
    if hit is None:
        return None
    return [f"https://smart-data-models.github.io/dataModel.{hit[0]}/context.jsonld"]


def key_values(entity: dict[str, Any]) -> dict[str, Any]:
    """A normalized (compacted) NGSI-LD entity reduced to key-values."""
    out: dict[str, Any] = {}
    for key, inst in entity.items():
        if key == "@context":
            continue
        if isinstance(inst, list):  # several instances (datasetId): the first one
            inst = inst[0] if inst else None
        if not isinstance(inst, dict) or key in ("id", "type", "scope"):
            out[key] = inst
            continue
        for member in ("value", "object", "languageMap", "vocab", "json", "valueList",
                       "objectList"):
            if member in inst:
                v = inst[member]
                out[key] = v["@value"] if isinstance(v, dict) and "@value" in v else v
                break
        else:
            out[key] = inst
    return out


def compile_custom(doc: dict[str, Any]) -> dict[str, Any]:
    """A custom model (its stored document) -> JSON Schema (draft 2020-12) of key-values."""
    name = doc["name"]
    props: dict[str, Any] = {
        "id": {"type": "string", "format": "uri"},
        "type": {"const": name},
    }
    required = ["id", "type"]
    for attr, spec in doc.get("attributes", {}).items():
        kind = spec.get("kind", "Property")
        if kind == "Relationship":
            s: dict[str, Any] = {"type": "string", "format": "uri"}
        elif kind == "GeoProperty":
            s = {"type": "object", "required": ["type", "coordinates"],
                 "properties": {"type": {"enum": ["Point", "LineString", "Polygon",
                                                  "MultiPoint", "MultiLineString",
                                                  "MultiPolygon"]}}}
        else:
            s = {}
            vt = spec.get("valueType")
            if vt:
                s["type"] = _VALUE_TYPES[vt]
                if vt == "datetime":
                    s["format"] = "date-time"
            for k in ("minimum", "maximum", "enum"):
                if k in spec:
                    s[k] = spec[k]
        if spec.get("description"):
            s["description"] = spec["description"]
        props[attr] = s
        if spec.get("required"):
            required.append(attr)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:dosi:model:{name}", "title": doc.get("title", name),
            "type": "object", "properties": props, "required": required}


def check_custom(doc: Any) -> dict[str, Any]:
    """Validate a custom model document (raises MappingError with a readable reason)."""
    if not isinstance(doc, dict):
        raise MappingError("a model is a JSON object")
    name = doc.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise MappingError("name: a type name (letters, digits, _; starts with a letter)")
    attrs = doc.get("attributes")
    if not isinstance(attrs, dict) or not attrs:
        raise MappingError("attributes: an object of attribute name -> definition")
    for attr, spec in attrs.items():
        where = f"attribute {attr!r}"
        if not _NAME.match(attr) or attr in ("id", "type"):
            raise MappingError(f"{where}: not an attribute name")
        if not isinstance(spec, dict):
            raise MappingError(f"{where}: an object (kind, valueType, unitCode, ...)")
        unknown = set(spec) - _ATTR_KEYS
        if unknown:
            raise MappingError(f"{where}: unknown keys {sorted(unknown)}")
        if spec.get("kind", "Property") not in ("Property", "Relationship", "GeoProperty"):
            raise MappingError(f"{where}: kind is Property, Relationship or GeoProperty")
        vt = spec.get("valueType")
        if vt is not None and vt not in _VALUE_TYPES:
            raise MappingError(f"{where}: valueType is one of {sorted(_VALUE_TYPES)}")
        for k in ("minimum", "maximum"):
            if k in spec and (not isinstance(spec[k], (int, float)) or isinstance(spec[k], bool)):
                raise MappingError(f"{where}: {k} is a number")
        if "enum" in spec and (not isinstance(spec["enum"], list) or not spec["enum"]):
            raise MappingError(f"{where}: enum is a non-empty list")
        if "unitCode" in spec and not isinstance(spec["unitCode"], str):
            raise MappingError(f"{where}: unitCode is a UN/CEFACT code (a string)")
    if name in sdm_index():
        raise MappingError(f"{name} is a bundled Smart Data Model; pick another name")
    ctx = doc.get("context")
    if ctx is not None and not (isinstance(ctx, list) and all(isinstance(c, str) for c in ctx)):
        raise MappingError("context: a list of @context URLs")
    return doc


class ModelRegistry:
    """Validators by entity type: the bundled models and the custom ones given to it."""

    def __init__(self) -> None:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        self.unresolved: set[str] = set()
        resources_: list[tuple[str, Any]] = []

        def add(urls: list[str], doc: Any) -> None:
            res = Resource(contents=doc, specification=DRAFT202012)
            resources_.extend((u, res) for u in urls)

        add(list(_COMMON_URLS),
            json.loads(_root().joinpath("common-schema.json").read_text("utf-8")))
        for _, schema in sdm_index().values():
            if "$id" in schema:
                add([schema["$id"]], schema)
        for subject in (p for p in _root().iterdir() if p.is_dir()):
            for f in (p for p in subject.iterdir() if p.name.endswith("-schema.json")):
                doc = json.loads(f.read_text("utf-8"))  # a subject's shared definitions
                raw = ("https://raw.githubusercontent.com/smart-data-models/"
                       f"dataModel.{subject.name}/master/{f.name}")
                add([f"https://smart-data-models.github.io/dataModel.{subject.name}/{f.name}",
                     raw], doc)

        def retrieve(uri: str) -> Any:  # never the network: unknown files are empty
            self.unresolved.add(uri)
            return Resource.from_contents({"$schema": "https://json-schema.org/draft/2020-12/schema"})

        self._known = {uri for uri, _ in resources_}
        self._registry = Registry(retrieve=retrieve).with_resources(resources_)  # type: ignore[call-arg]
        self._validators: dict[str, Any] = {}
        self._fast: dict[str, Any] = {}
        self._custom: dict[str, dict[str, Any]] = {}

    def set_custom(self, models: list[dict[str, Any]]) -> None:
        self._custom = {m["name"]: m for m in models}
        for cache in (self._validators, self._fast):
            for k in [k for k in cache if k in self._custom or k.startswith("custom:")]:
                del cache[k]

    def knows(self, entity_type: str) -> bool:
        return entity_type in self._custom or entity_type in sdm_index()

    def schema(self, entity_type: str) -> dict[str, Any] | None:
        if entity_type in self._custom:
            return compile_custom(self._custom[entity_type])
        hit = sdm_index().get(entity_type)
        return hit[1] if hit else None

    def attributes(self, entity_type: str) -> list[str]:
        """The attributes a model names (custom: all; SDM: the required ones)."""
        if entity_type in self._custom:
            return list(self._custom[entity_type]["attributes"])
        schema = self.schema(entity_type)
        return [a for a in (schema or {}).get("required", []) if a not in ("id", "type")]

    def _prune(self, node: Any) -> Any:
        """The schema with references to files outside the bundle replaced by {}."""
        if isinstance(node, list):
            return [self._prune(x) for x in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            base = ref.split("#", 1)[0]
            if base not in self._known or not self._resolves(ref):
                self.unresolved.add(ref if base in self._known else base)
                node = {k: v for k, v in node.items() if k != "$ref"}
        return {k: self._prune(v) for k, v in node.items()}

    def _validator(self, entity_type: str) -> Any:
        key = ("custom:" if entity_type in self._custom else "") + entity_type
        v = self._validators.get(key)
        if v is None:
            from jsonschema.validators import validator_for

            schema = self._prune(self.schema(entity_type))
            cls = validator_for(schema)
            v = self._validators[key] = cls(schema, registry=self._registry)
        return v

    def _resolves(self, ref: str) -> bool:
        try:
            self._registry.resolver().lookup(ref)
            return True
        except Exception:  # noqa: BLE001 - a pointer into a part the bundled file lacks
            return False

    def _inline(self, node: Any, base: str, resolver: Any, depth: int = 0) -> Any:
        """The schema with every $ref replaced by its target (for fastjsonschema)."""
        if depth > 24:
            return {}
        if isinstance(node, list):
            return [self._inline(x, base, resolver, depth) for x in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            url = base + ref if ref.startswith("#") else ref
            target = self._inline(resolver.lookup(url).contents, url.split("#")[0], resolver,
                                  depth + 1)
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {"allOf": [target, self._inline(rest, base, resolver, depth)]} if rest \
                else target
        out = {k: self._inline(v, base, resolver, depth) for k, v in node.items()
               if k not in ("$id", "$schema", "format", "properties")}
        if isinstance(node.get("properties"), dict):  # attribute names are kept, all of them
            out["properties"] = {k: self._inline(v, base, resolver, depth)
                                 for k, v in node["properties"].items()}
        return out

    def _fast_check(self, entity_type: str) -> Any:
        """A compiled validity check (fastjsonschema, ~15x faster than jsonschema), or None
        when the schema does not compile: then jsonschema alone decides."""
        key = ("custom:" if entity_type in self._custom else "") + entity_type
        if key not in self._fast:
            try:
                import fastjsonschema

                schema = self._prune(self.schema(entity_type))
                flat = self._inline(schema, schema.get("$id", ""), self._registry.resolver())
                flat["$schema"] = "http://json-schema.org/draft-07/schema#"
                self._fast[key] = fastjsonschema.compile(flat)
            except Exception:  # noqa: BLE001 - the slow path still validates
                self._fast[key] = None
        return self._fast[key]

    def validate(self, entity: dict[str, Any], partial: bool = False) -> list[str]:
        """Reasons the entity does not fit its model ([] if it fits or has no model).
        A compiled check answers the common case (valid); the reasons of an invalid
        entity come from jsonschema, which is the reference (formats are not asserted).
        ``partial``: the entity is an update of some attributes (a device observation),
        so the model's required attributes need not all be in it."""
        etype = entity.get("type")
        if not isinstance(etype, str) or not self.knows(etype):
            return []
        kv = key_values(entity)
        problems = []
        fast = self._fast_check(etype)
        valid = False
        if fast is not None:
            try:
                fast(kv)
                valid = True
            except Exception:  # noqa: BLE001 - JsonSchemaValueException or a quirk
                valid = False
        if not valid:
            for err in sorted(self._validator(etype).iter_errors(kv),
                              key=lambda e: list(e.path)):
                if partial and err.validator == "required" and not err.absolute_path:
                    continue
                where = ".".join(str(p) for p in err.absolute_path) or "entity"
                problems.append(f"{where}: {_short(err.message)}")
        custom = self._custom.get(etype)
        if custom:
            for attr, spec in custom["attributes"].items():
                unit = spec.get("unitCode")
                inst = entity.get(attr)
                if unit and isinstance(inst, dict) and inst.get("unitCode", unit) != unit:
                    problems.append(f"{attr}: unitCode {inst['unitCode']!r} is not {unit!r}")
        return problems[:5]


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."
