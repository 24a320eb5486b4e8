"""pick/omit projections and orderBy."""

from __future__ import annotations

import pytest

from dosi.errors import BadRequestDataError
from dosi.ngsild.context import build_context
from dosi.ngsild.entity import parse_entity
from dosi.ngsild.ordering import parse_order_by, sort_entities
from dosi.ngsild.projection import parse_projection
from dosi.ngsild.render import RenderOptions, render_entity, render_flat

CTX = build_context(None)


def test_projection_trees():
    assert parse_projection("id,name") == {"id": None, "name": None}
    assert parse_projection("id,locatedAt{id,name,isInCountry{description}}") == {
        "id": None,
        "locatedAt": {"id": None, "name": None, "isInCountry": {"description": None}},
    }


@pytest.mark.parametrize("bad", ["id,,name", "locatedAt{}", "locatedAt{,name}", "a{b", "a}b",
                                 "id;name", "", "a,a"])
def test_bad_projections_are_rejected(bad):
    with pytest.raises(BadRequestDataError):
        parse_projection(bad)


def entity(n: int, name: str, sub: int, city: str | None = None) -> dict:
    body = {"id": f"urn:ngsi-ld:Building:{n}", "type": "Building",
            "name": {"type": "Property", "value": name,
                     "subProperty": {"type": "Property", "value": sub}}}
    if city:
        body["locatedAt"] = {"type": "Relationship", "object": city}
    return parse_entity(body, CTX, f"2026-01-0{n}T00:00:00.000Z")


def test_order_by_attribute_sub_attribute_and_direction():
    es = [entity(2, "B", 2), entity(1, "A", 1), entity(3, "C", 3)]
    ids = lambda order: [e["id"][-1] for e in sort_entities(es, parse_order_by(order, CTX.expand))]
    assert ids("name") == ["1", "2", "3"]
    assert ids("name;desc") == ["3", "2", "1"]
    assert ids("createdAt") == ["1", "2", "3"]
    assert ids("type;asc,name.subProperty;desc") == ["3", "2", "1"]
    with pytest.raises(BadRequestDataError):
        parse_order_by("name;sideways", CTX.expand)


def test_inline_and_flat_joins_follow_relationships():
    city = parse_entity({"id": "urn:ngsi-ld:City:Paris", "type": "City",
                         "name": {"type": "Property", "value": "Paris"}}, CTX, "2026-01-01T00:00:00Z")
    b = entity(1, "Eiffel", 1, city="urn:ngsi-ld:City:Paris")
    linked = {city["id"]: city}
    inline = render_entity(b, CTX, RenderOptions(join="inline"), linked)
    assert inline["locatedAt"]["entity"]["name"]["value"] == "Paris"
    kv = render_entity(b, CTX, RenderOptions(join="inline", format="keyValues"), linked)
    assert kv["locatedAt"] == {"id": "urn:ngsi-ld:City:Paris", "type": "City", "name": "Paris"}
    flat = render_flat([b], CTX, RenderOptions(join="flat"), linked)
    assert [e["id"] for e in flat] == ["urn:ngsi-ld:Building:1", "urn:ngsi-ld:City:Paris"]
    picked = render_entity(b, CTX, RenderOptions(join="inline",
                                                 pick=parse_projection("id,locatedAt{name}")),
                           linked)
    assert picked == {"id": "urn:ngsi-ld:Building:1",
                      "locatedAt": {"type": "Relationship", "object": "urn:ngsi-ld:City:Paris",
                                    "entity": {"name": {"type": "Property", "value": "Paris"}}}}
