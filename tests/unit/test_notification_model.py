"""What a change means to a subscription and what its notification shows
(``ngsild.notification``), and subscription validation (``ngsild.subscription``)."""

from __future__ import annotations

import pytest

from dosi.errors import BadRequestDataError
from dosi.ngsild.context import core_context
from dosi.ngsild.notification import data_entity, render_data, trigger_for
from dosi.ngsild.render import RenderOptions
from dosi.ngsild.subscription import merge_fragment, parse_subscription, status_of

NAME, SPEED = "https://example.org/name", "https://example.org/speed"
NOW = "2030-01-01T00:00:00.000Z"


def car(**attrs: list[dict[str, object]]) -> dict[str, object]:
    return {"id": "urn:ngsi-ld:Car:1", "type": ["https://example.org/Car"],
            "createdAt": "2029-01-01T00:00:00.000Z", "modifiedAt": NOW,
            "attrs": {k.replace("_", ":"): v for k, v in attrs.items()}}


def prop(value: object, **extra: object) -> dict[str, object]:
    return {"type": "Property", "value": value, "modifiedAt": NOW, **extra}


DEFAULT = ("attributeCreated", "attributeUpdated")


def test_entity_creation_and_deletion_triggers() -> None:
    e = car(**{SPEED: [prop(1)]})
    assert trigger_for(DEFAULT, None, None, e) == "attributeCreated"
    assert trigger_for(("entityCreated",), None, None, e) == "entityCreated"
    assert trigger_for(DEFAULT, None, e, None) is None
    assert trigger_for(("entityDeleted",), None, e, None) == "entityDeleted"
    assert trigger_for(("attributeDeleted",), [NAME], e, None) is None


def test_updates_compare_content_not_modification_times() -> None:
    before = car(**{SPEED: [prop(1)]})
    same = car(**{SPEED: [prop(1, modifiedAt="2031-01-01T00:00:00.000Z")]})
    changed = car(**{SPEED: [prop(2)]})
    assert trigger_for(DEFAULT, None, before, same) is None
    assert trigger_for(DEFAULT, None, before, changed) == "attributeUpdated"
    assert trigger_for(DEFAULT, [NAME], before, changed) is None
    assert trigger_for(("entityUpdated",), [NAME], before, changed) == "entityUpdated"


def test_instance_deletion_is_attribute_deleted() -> None:
    before = car(**{NAME: [prop("a"), prop("b", datasetId="urn:d:fr")]})
    after = car(**{NAME: [prop("a")]})
    assert trigger_for(("attributeDeleted",), [NAME], before, after) == "attributeDeleted"
    data = data_entity(before, after, triggers=("attributeDeleted",), watched=[NAME],
                       show_changes=False, at=NOW)
    out = render_data(data, core_context(), RenderOptions(), False)
    assert out[NAME] == [{"type": "Property", "value": "a"},
                         {"type": "Property", "value": "urn:ngsi-ld:null",
                          "datasetId": "urn:d:fr"}]
    kv = render_data(data, core_context(), RenderOptions(format="keyValues"), False)
    assert kv[NAME] == {"dataset": {"@none": "a", "urn:d:fr": "urn:ngsi-ld:null"}}


def test_deleted_entity_with_and_without_show_changes() -> None:
    before = car(**{NAME: [prop("a")]})
    plain = data_entity(before, None, triggers=("entityDeleted",), watched=None,
                        show_changes=False, at=NOW)
    out = render_data(plain, core_context(), RenderOptions(format="keyValues"), False)
    assert out == {"id": "urn:ngsi-ld:Car:1", "type": "https://example.org/Car",
                   "deletedAt": NOW}
    shown = data_entity(before, None, triggers=("entityDeleted",), watched=None,
                        show_changes=True, at=NOW)
    out = render_data(shown, core_context(), RenderOptions(sys_attrs=True), True)
    assert out[NAME] == {"type": "Property", "value": "urn:ngsi-ld:null",
                         "previousValue": "a", "modifiedAt": NOW, "deletedAt": NOW}


def test_show_changes_on_update() -> None:
    before = car(**{SPEED: [prop(1)], NAME: [prop("x")]})
    after = car(**{SPEED: [prop(2)], NAME: [prop("x")]})
    data = data_entity(before, after, triggers=DEFAULT, watched=None, show_changes=True,
                       at=NOW)
    out = render_data(data, core_context(), RenderOptions(), True)
    assert out[SPEED] == {"type": "Property", "value": 2, "previousValue": 1}
    assert out[NAME] == {"type": "Property", "value": "x"}


def _sub(**extra: object) -> dict[str, object]:
    return {"type": "Subscription", "entities": [{"type": "Car"}],
            "notification": {"endpoint": {"uri": "http://x/"}}, **extra}


def test_subscription_validation_and_merge() -> None:
    ctx = core_context()
    doc = parse_subscription(_sub(watchedAttributes=["speed"]), lambda _k: ctx, NOW)
    assert doc["entities"] == [{"type": "https://uri.etsi.org/ngsi-ld/default-context/Car"}]
    assert status_of({**doc, "expiresAt": "2020-01-01T00:00:00Z"}, NOW) == "expired"
    assert status_of({**doc, "isActive": False}, NOW) == "paused"
    doc["id"] = "urn:ngsi-ld:Subscription:x"
    merged = merge_fragment(doc, {"watchedAttributes": None, "throttling": 3})
    assert "watchedAttributes" not in merged and merged["throttling"] == 3
    with pytest.raises(BadRequestDataError):
        merge_fragment(doc, {"notification": None})
    with pytest.raises(BadRequestDataError):
        parse_subscription(_sub(timeInterval=5, watchedAttributes=["a"]), lambda _k: ctx, NOW)
