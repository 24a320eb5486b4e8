"""The entity model: parsing payloads, the write operations and representations."""

from __future__ import annotations

import pytest

from dosi.errors import AlreadyExistsError, BadRequestDataError, ResourceNotFoundError
from dosi.ngsild import operations as ops
from dosi.ngsild.context import DEFAULT_VOCAB, build_context
from dosi.ngsild.entity import parse_attribute, parse_entity
from dosi.ngsild.render import RenderOptions, pick_language, render_entity

CTX = build_context({"Vehicle": "https://ex.org/Vehicle", "speed": "https://ex.org/speed",
                     "Color": "https://ex.org/Color", "red": "https://ex.org/red"})
NOW = "2026-11-25T00:00:00.000Z"
LATER = "2026-11-25T01:00:00.000Z"
SPEED = "https://ex.org/speed"


def parse(body: dict, **kw) -> dict:
    return parse_entity(body, CTX, NOW, **kw)


def test_normalized_and_concise_forms_parse_to_the_same_model():
    normalized = parse({"id": "urn:v:1", "type": "Vehicle",
                        "speed": {"type": "Property", "value": 3, "unitCode": "KMH"}})
    concise = parse({"id": "urn:v:1", "type": "Vehicle", "speed": {"value": 3, "unitCode": "KMH"}})
    assert normalized == concise
    assert normalized["type"] == ["https://ex.org/Vehicle"]
    assert normalized["attrs"][SPEED][0]["value"] == 3


def test_every_attribute_kind_is_recognised():
    e = parse({
        "id": "urn:v:1", "type": "Vehicle",
        "a": 5,
        "b": {"object": "urn:x:1"},
        "location": {"type": "Point", "coordinates": [127.0, 37.5]},
        "c": {"languageMap": {"ko": "버스"}},
        "d": {"vocab": "red"},
        "e": {"json": {"any": [1, None]}},
        "f": {"valueList": [1, 2]},
        "g": {"objectList": ["urn:a:1", "urn:a:2"]},
    })
    kinds = {k.rsplit("/", 1)[-1]: v[0]["type"] for k, v in e["attrs"].items()}
    assert kinds == {"a": "Property", "b": "Relationship", "location": "GeoProperty",
                     "c": "LanguageProperty", "d": "VocabProperty", "e": "JsonProperty",
                     "f": "ListProperty", "g": "ListRelationship"}
    assert e["attrs"][DEFAULT_VOCAB + "d"][0]["vocab"] == "https://ex.org/red"


@pytest.mark.parametrize("body", [
    {"id": "no-scheme", "type": "Vehicle"},
    {"id": "urn:v:1", "type": "Vehicle", "speed": None},
    {"id": "urn:v:1", "type": "Vehicle", "speed": {"type": "Property"}},
    {"id": "urn:v:1", "type": "Vehicle", "r": {"type": "Relationship", "object": "not a uri"}},
    {"id": "urn:v:1", "type": "Vehicle", "speed": {"type": "Wrong", "value": 1}},
    {"id": "urn:v:1", "type": "Vehicle", "o": {"type": "Property", "value": 1, "observedAt": "x"}},
    {"id": "urn:v:1", "type": "type"},
    {"id": "urn:v:1", "type": "Vehicle",
     "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [500, 1]}}},
])
def test_invalid_payloads_are_rejected(body):
    with pytest.raises(BadRequestDataError):
        parse(body)


def test_duplicate_dataset_ids_are_rejected():
    with pytest.raises(BadRequestDataError):
        parse_attribute([{"type": "Property", "value": 1, "datasetId": "urn:d:1"},
                         {"type": "Property", "value": 2, "datasetId": "urn:d:1"}], CTX, NOW)


def test_create_refuses_existing():
    e = parse({"id": "urn:v:1", "type": "Vehicle"})
    with pytest.raises(AlreadyExistsError):
        ops.create(e, e)


def test_append_no_overwrite_reports_and_keeps_old_value():
    cur = parse({"id": "urn:v:1", "type": "Vehicle", "speed": 1})
    patch = parse({"speed": 2, "other": 3}, require_id=False, require_type=False)
    report = ops.UpdateReport()
    new = ops.append_attrs(cur, patch, "urn:v:1", LATER, no_overwrite=True, report=report)
    assert new["attrs"][SPEED][0]["value"] == 1
    assert report.not_updated[0][0] == SPEED and report.updated == [DEFAULT_VOCAB + "other"]
    assert new["modifiedAt"] == LATER and cur["attrs"][SPEED][0]["value"] == 1  # input untouched


def test_merge_keeps_untouched_members_and_null_deletes():
    cur = parse({"id": "urn:v:1", "type": "Vehicle",
                 "speed": {"value": 1, "unitCode": "KMH"}, "gone": 5})
    patch = parse({"speed": {"value": 2}, "gone": "urn:ngsi-ld:null"}, require_id=False,
                  require_type=False, allow_null=True)
    new = ops.merge_entity(cur, patch, "urn:v:1", LATER)
    assert new["attrs"][SPEED][0]["value"] == 2
    assert new["attrs"][SPEED][0]["unitCode"] == "KMH"
    assert new["attrs"][SPEED][0]["createdAt"] == NOW
    assert DEFAULT_VOCAB + "gone" not in new["attrs"]


def test_attribute_operations_need_the_attribute():
    cur = parse({"id": "urn:v:1", "type": "Vehicle"})
    with pytest.raises(ResourceNotFoundError):
        ops.delete_attr(cur, "urn:v:1", SPEED, LATER)
    with pytest.raises(ResourceNotFoundError):
        ops.partial_attr_update(None, "urn:v:1", SPEED, {"value": 1}, LATER)


def test_render_formats_and_compaction():
    e = parse({"id": "urn:v:1", "type": "Vehicle", "speed": {"value": 3, "unitCode": "KMH"},
               "colour": {"vocab": "red"}})
    norm = render_entity(e, CTX, RenderOptions())
    assert norm == {"id": "urn:v:1", "type": "Vehicle",
                    "speed": {"type": "Property", "value": 3, "unitCode": "KMH"},
                    "colour": {"type": "VocabProperty", "vocab": "red"}}
    kv = render_entity(e, CTX, RenderOptions(format="keyValues"))
    assert kv == {"id": "urn:v:1", "type": "Vehicle", "speed": 3, "colour": "red"}
    plain = render_entity(e, build_context(None), RenderOptions(format="keyValues"))
    assert plain["type"] == "https://ex.org/Vehicle" and plain["https://ex.org/speed"] == 3


def test_language_choice():
    lmap = {"fr": "Grand Place", "nl": "Grote Markt"}
    assert pick_language(lmap, "nl") == ("nl", "Grote Markt")
    assert pick_language(lmap, "fr-CH,fr;q=0.9,en;q=0.8,*;q=0.5") == ("fr", "Grand Place")
    assert pick_language(lmap, "*") == ("fr", "Grand Place")
