"""Discovery (GET /types, GET /attributes) stays equal to what the entities say, through
creates, updates that change shapes, deletes, purges and counter compaction."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dosi.ngsild.query.ast import EntityQuery, TypeName
from dosi.storage import statements
from dosi.storage.base import AttributeInfo, Entity, Store, TypeInfo, WriteOp

from .support import AREA, CAMERA, EX, SENSOR, TEMP, city, delete, put, urn


def expected_types(entities: list[Entity]) -> dict[str, tuple[int, dict[str, set[str]]]]:
    out: dict[str, tuple[int, dict[str, set[str]]]] = {}
    for e in entities:
        for t in e["type"]:
            n, attrs = out.get(t, (0, {}))
            for a, insts in e["attrs"].items():
                attrs.setdefault(a, set()).update(i["type"] for i in insts)
            out[t] = (n + 1, attrs)
    return out


def expected_attrs(entities: list[Entity]) -> dict[str, tuple[set[str], set[str], int]]:
    out: dict[str, tuple[set[str], set[str], int]] = {}
    for e in entities:
        for a, insts in e["attrs"].items():
            types, kinds, n = out.get(a, (set(), set(), 0))
            out[a] = (types | set(e["type"]), kinds | {i["type"] for i in insts}, n + len(insts))
    return out


def as_dicts(types: list[TypeInfo], attrs: list[AttributeInfo]) -> tuple[Any, Any]:
    return (
        {t.type: (t.entity_count, t.attributes) for t in types},
        {a.attribute: (a.type_names, a.attribute_types, a.count) for a in attrs},
    )


async def check(store: Store, entities: list[Entity], tenant: str = "") -> None:
    got = as_dicts(await store.types(tenant), await store.attributes(tenant))
    assert got == (expected_types(entities), expected_attrs(entities))


@pytest.fixture(params=["compact-often", "compact-rarely"])
def compaction(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param == "compact-often":
        monkeypatch.setattr(statements, "STATS_COMPACT_EVERY", 1)


async def test_discovery_follows_every_change(store: Store, compaction: None) -> None:
    entities = {e["id"]: e for e in city()}
    await put(store, *entities.values())
    await check(store, list(entities.values()))

    def replace(eid: str, fn: Any) -> WriteOp:
        def op(cur: Entity | None) -> Entity:
            assert cur is not None
            new = copy.deepcopy(cur)
            fn(new)
            entities[eid] = new
            return new

        return WriteOp(eid, op)

    await store.write(
        "",
        [
            replace(
                urn("hall"),
                lambda e: e["attrs"][TEMP].append(
                    {"type": "Property", "value": 3, "datasetId": "urn:ngsi-ld:Dataset:b"}
                ),
            ),
            replace(urn("plaza"), lambda e: e["type"].append(CAMERA)),
            replace(urn("busan"), lambda e: e["attrs"].pop(EX + "name")),
            replace(
                urn("namsan"),
                lambda e: e["attrs"].__setitem__(
                    TEMP, [{"type": "Relationship", "object": "urn:x"}]
                ),
            ),
            replace(urn("deoksu"), lambda e: e["attrs"][TEMP][0].__setitem__("value", 99)),
        ],
    )
    await check(store, list(entities.values()))

    await store.write("", [WriteOp(urn("gangnam"), delete)])
    del entities[urn("gangnam")]
    await check(store, list(entities.values()))

    assert await store.purge("", EntityQuery(types=TypeName(AREA))) == 1
    del entities[urn("plazaArea")]
    await check(store, list(entities.values()))

    await put(store, *city()[5:6])  # gangnam again
    entities[urn("gangnam")] = city()[5]
    await check(store, list(entities.values()))

    assert await store.purge("", EntityQuery(types=TypeName(SENSOR))) == 8
    await check(store, [e for e in entities.values() if SENSOR not in e["type"]])
    assert {t.type for t in await store.types("")} == {EX + "Road"}
