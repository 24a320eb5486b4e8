"""Evaluation of whole entity queries on internal entities (docs/design/internals.md)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosi.errors import BadRequestDataError, DosiError
from dosi.ngsild.context import build_context
from dosi.ngsild.query import (
    compile_id_pattern,
    matches,
    matches_ids,
    matches_q,
    parse_geo_query,
    parse_q,
    parse_scope_q,
    parse_type_expr,
)
from dosi.ngsild.query.ast import EntityQuery

CTX = build_context(
    {
        "ex": "https://example.org/",
        "Building": "ex:Building",
        "commercial": "ex:commercial",
        "Vehicle": "ex:Vehicle",
    }
)
EX = CTX.expand
NGSILD = "https://uri.etsi.org/ngsi-ld/"


def prop(value, **extra):
    return {"type": "Property", "value": value, **extra}


BUILDING = {
    "id": "urn:ngsi-ld:Building:pisa",
    "type": [EX("Building")],
    "scope": ["/Italy/Pisa"],
    "createdAt": "2024-05-01T10:00:00.000Z",
    "modifiedAt": "2024-06-01T10:00:00.000Z",
    "attrs": {
        EX("name"): [prop("Pisa Tower")],
        EX("height"): [
            prop(
                56.67,
                unitCode="MTR",
                observedAt="2024-05-02T08:00:00.000Z",
                sub={EX("accuracy"): prop(0.9, observedAt="2024-05-02T08:00:00.000Z")},
            )
        ],
        EX("airQualityLevel"): [prop(4), prop(6, datasetId="urn:ngsi-ld:Dataset:b")],
        EX("almostFull"): [prop(False)],
        EX("code"): [prop("5")],
        EX("address"): [prop({"city": "Pisa", "street": {"name": "Piazza", "number": 1}})],
        EX("tags"): [prop(["leaning", "marble"])],
        EX("opened"): [prop({"@type": "DateTime", "@value": "1372-01-01T00:00:00Z"})],
        EX("locatedIn"): [
            {"type": "Relationship", "object": "urn:ngsi-ld:City:Pisa", "objectType": EX("City")}
        ],
        EX("neighbours"): [
            {
                "type": "ListRelationship",
                "objectList": ["urn:ngsi-ld:Building:a", "urn:ngsi-ld:Building:b"],
            }
        ],
        EX("color"): [{"type": "LanguageProperty", "languageMap": {"en": "white", "fr": "blanc"}}],
        EX("category"): [{"type": "VocabProperty", "vocab": EX("commercial")}],
        EX("config"): [{"type": "JsonProperty", "json": {"mode": "auto", "levels": [1, 2]}}],
        EX("readings"): [{"type": "ListProperty", "valueList": [3, 5, 8]}],
        NGSILD + "location": [
            {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [10.3966, 43.7230]}}
        ],
    },
}


def q(text: str, entity: dict = BUILDING, **kw) -> bool:
    return matches_q(parse_q(text, EX, **kw), entity)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name=="Pisa Tower"', True),
        ('name=="Eiffel Tower"', False),
        ("height>50", True),
        ("height>=56.67;height<=56.67", True),
        ("height<50", False),
        ("name", True),
        ("nothere", False),
        ("!nothere", True),
        ("!name", False),
        ("almostFull==false", True),
        ("almostFull==0", False),  # booleans are not numbers
        ("code==5", False),  # strings and numbers are never equal
        ('code=="5"', True),
        ("code!=5", True),  # different types are unequal...
        ("nothere!=5", False),  # ...but != still needs the attribute
        ('name>"Pisa"', True),  # strings order lexicographically
        ("name>5", False),
    ],
)
def test_property_values(text, expected):
    assert q(text) is expected


def test_multi_instance_attributes_match_when_any_instance_does():
    assert q("airQualityLevel==6")
    assert q("airQualityLevel==4")
    assert q("airQualityLevel!=4")  # the datasetId b instance (6) differs from 4
    assert not q("airQualityLevel==5")
    assert q("airQualityLevel>=5;airQualityLevel<5")  # per term, different instances


def test_ranges_are_inclusive_and_lists_are_membership():
    assert q("airQualityLevel==4..5")
    assert q("height==56.67..60")
    assert not q("height==57..60")
    assert q("height!=57..60")
    assert not q("height!=50..60")
    assert q('name=="Eiffel Tower","Pisa Tower"')
    assert not q('name!="Eiffel Tower","Pisa Tower"')
    assert q('name!="Eiffel Tower","Big Ben"')


def test_regex_is_a_search():
    assert q('name~="Tower"')
    assert q('name~="^Pisa"')
    assert not q('name~="^Tower"')
    assert q("name~=(?i)pisa")
    assert q('name!~="^Eiffel"')
    assert not q('name!~="Pisa"')
    assert not q("height~=5")  # numbers never match a pattern


def test_datetimes_compare_as_instants():
    assert q("height.observedAt==2024-05-02T10:00:00+02:00")
    assert q('height.observedAt>"2024-05-02T07:59:59Z"')  # quoted datetimes too
    assert not q("height.observedAt>2024-05-02T08:00:00Z")
    assert q("height.observedAt==2024-05-01T00:00:00Z..2024-05-31T00:00:00Z")
    assert q("opened<1400-01-01T00:00:00Z")  # a JSON-LD DateTime value object
    assert q("modifiedAt>2024-05-15T00:00:00Z")  # the entity's own timestamps
    assert not q("createdAt>2024-05-15T00:00:00Z")


def test_metadata_and_sub_attribute_paths():
    assert q('height.unitCode=="MTR"')
    assert q("height.accuracy>0.8")
    assert not q("height.accuracy>0.95")
    assert q("height.accuracy.observedAt<2025-01-01T00:00:00Z")
    assert q("airQualityLevel.datasetId==urn:ngsi-ld:Dataset:b")
    assert not q("name.datasetId")  # the default instance has no datasetId
    assert q("height.accuracy") and not q("height.nothere")


def test_bracket_trails_walk_into_json_values():
    assert q('address[city]=="Pisa"')
    assert q("address[city]")
    assert not q('address[postcode]=="Pisa"')  # undefined member: non-existent
    assert not q("address[postcode]!=1")
    assert q('address[street][name]=="Piazza"')
    assert q("address[street.number]==1")
    assert q('tags[1]=="marble"')
    assert q('config[mode]=="auto"') and q("config[levels]==2")


def test_arrays_mean_contains():
    assert q('tags=="marble"')
    assert not q('tags!="marble"')
    assert q('tags!="granite"')
    assert q("readings==5") and q("readings>7") and not q("readings>8")
    assert q("readings==4..6") and not q("readings!=4..6")


def test_relationships_take_only_equality():
    assert q("locatedIn==urn:ngsi-ld:City:Pisa")
    assert q('locatedIn=="urn:ngsi-ld:City:Pisa"')
    assert not q("locatedIn==urn:ngsi-ld:City:Paris")
    assert q("locatedIn!=urn:ngsi-ld:City:Paris")
    assert not q('locatedIn>"urn:a"')
    assert not q('locatedIn~="Pisa"')
    assert q("neighbours==urn:ngsi-ld:Building:b")
    assert not q("neighbours!=urn:ngsi-ld:Building:b")


def test_language_properties():
    assert q('color=="blanc"')  # any language
    assert q('color[en]=="white"')
    assert not q('color[en]=="blanc"')
    assert q('color[*]=="blanc"')
    assert not q('color[*]!="white"')  # no value may equal
    assert q('color[*]!="red"')
    assert q('color[fr]~="^bl"')
    assert not q("color[de]")


def test_vocab_properties_compare_iris_and_expand_values_expands_terms():
    assert q("category==https://example.org/commercial")
    assert not q("category==commercial")  # a bare term is not the IRI...
    assert q("category==commercial", expand_values={"category"})  # ...unless expandValues


def test_logic():
    assert q('name=="Pisa Tower";height>50')
    assert not q('name=="Pisa Tower";height<50')
    assert q('name=="Eiffel Tower"|height>50')
    assert q('(name=="Eiffel Tower"|name=="Pisa Tower");almostFull==false')


def test_ids_and_id_pattern_use_full_match():
    assert matches_ids(EntityQuery(ids=("urn:ngsi-ld:Building:pisa",)), BUILDING)
    assert not matches_ids(EntityQuery(ids=("urn:ngsi-ld:Building:x",)), BUILDING)
    assert matches_ids(EntityQuery(id_pattern="urn:ngsi-ld:Building:.*"), BUILDING)
    assert not matches_ids(EntityQuery(id_pattern="Building"), BUILDING)
    assert matches_ids(EntityQuery(id_pattern=".*Building.*"), BUILDING)
    # the id list takes precedence over the pattern
    assert matches_ids(EntityQuery(ids=(BUILDING["id"],), id_pattern="nomatch"), BUILDING)
    with pytest.raises(BadRequestDataError, match="invalid idPattern"):
        compile_id_pattern("invalid_entity_id_pattern**")


def test_whole_query_ands_every_filter():
    full = EntityQuery(
        ids=(BUILDING["id"],),
        types=parse_type_expr("Building", EX),
        attrs=(EX("name"),),
        q=parse_q("height>50", EX),
        scope_q=parse_scope_q("/Italy/#"),
        geo_q=parse_geo_query("near;maxDistance==1000", "Point", "[10.3966,43.7231]", None, EX),
    )
    assert matches(full, BUILDING)
    assert matches(EntityQuery(), BUILDING)
    for change in (
        {"types": parse_type_expr("Vehicle", EX)},
        {"attrs": (EX("speed"), EX("brand"))},
        {"q": parse_q("height<50", EX)},
        {"scope_q": parse_scope_q("/France/#")},
        {"geo_q": parse_geo_query("near;maxDistance==10", "Point", "[10.4,43.8]", None, EX)},
        {"id_pattern": "urn:ngsi-ld:Vehicle:.*", "ids": None},
    ):
        assert not matches(EntityQuery(**{**full.__dict__, **change}), BUILDING), change


def test_compiled_predicates_are_reused():
    expr = parse_q('name~="Tower";height>1', EX)
    from dosi.ngsild.query import evaluate

    matches_q(expr, BUILDING)
    before = dict(evaluate._cache)
    for _ in range(5):
        assert matches_q(expr, BUILDING)
    assert evaluate._cache == before


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from(list('abcghtnme.[]()=!<>~;|,"1*: ')), max_size=25))
def test_random_queries_evaluate_or_raise_only_dosi_errors(text):
    try:
        expr = parse_q(text, EX)
    except DosiError:
        return
    assert matches_q(expr, BUILDING) in (True, False)
    assert matches_q(expr, {"id": "urn:x", "type": ["T"]}) in (True, False)
