"""The ingest HTTP API on both stores: datasets, custom models, DCAT, push, dead
letters, replay and quality."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.ingest.conftest import AQ_MAPPING, aq_dataset, aq_row

SDM_ENV = "https://smart-data-models.github.io/dataModel.Environment/context.jsonld"

WATER = {
    "name": "RiverLevel",
    "description": "Water level of a river gauge",
    "context": [SDM_ENV],
    "attributes": {
        "level": {"kind": "Property", "valueType": "number", "unitCode": "MTR",
                  "required": True, "minimum": 0, "maximum": 20},
        "status": {"kind": "Property", "valueType": "string", "enum": ["ok", "fault"]},
        "refDevice": {"kind": "Relationship"},
        "location": {"kind": "GeoProperty"},
    },
}


async def make_key(c: httpx.AsyncClient, ds: str) -> str:
    r = await c.post(f"/dosi/v1/datasets/{ds}/keys", json={"source": "partner"})
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def gauge(level: Any, unit: str = "MTR", status: str = "ok", n: int = 1) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:RiverLevel:g{n}", "type": "RiverLevel",
            "level": {"type": "Property", "value": level, "unitCode": unit,
                      "observedAt": "2026-11-25T01:00:00Z"},
            "status": {"type": "Property", "value": status},
            "@context": [SDM_ENV]}


async def test_dataset_crud_and_problem_details(client: httpx.AsyncClient) -> None:
    c = client
    r = await c.post("/dosi/v1/datasets", json=aq_dataset(keywords=["air", "서울"]))
    assert r.status_code == 201 and r.headers["location"] == "/dosi/v1/datasets/airkorea"
    assert (await c.post("/dosi/v1/datasets", json=aq_dataset())).status_code == 409
    for bad, needle in [
        ({"id": "x y", "title": "t"}, "id"),
        ({"id": "x", "title": "t", "updateInterval": "hourly"}, "updateInterval"),
        ({"id": "x", "title": "t", "dataModel": "NoSuchModel"}, "dataModel"),
        ({"id": "x", "title": "t", "derivedFrom": ["nowhere"]}, "derivedFrom"),
        ({"id": "x", "title": "t", "validation": "maybe"}, "validation"),
        ({"id": "x", "title": "t", "mapping": {"type": "T"}}, "mapping"),
        ({"id": "x", "title": "t", "region": {"type": "Circle"}}, "region"),
    ]:
        r = await c.post("/dosi/v1/datasets", json=bad)
        assert r.status_code == 400, (bad, r.text)
        body = r.json()
        assert body["type"].endswith("BadRequestData") and needle in body["detail"]
    derived = {"id": "airkorea-daily", "title": "Daily means", "derivedFrom": ["airkorea"]}
    assert (await c.post("/dosi/v1/datasets", json=derived)).status_code == 201
    assert [d["id"] for d in (await c.get("/dosi/v1/datasets")).json()] == [
        "airkorea", "airkorea-daily"]
    changed = {**aq_dataset(), "title": "Air quality, Jung-gu"}
    r = await c.put("/dosi/v1/datasets/airkorea", json=changed)
    assert r.status_code == 200
    got = (await c.get("/dosi/v1/datasets/airkorea")).json()
    assert got["title"] == "Air quality, Jung-gu" and got["modifiedAt"] >= got["createdAt"]
    r = await c.put("/dosi/v1/datasets/airkorea", json={**got, "createdAt": "1999"})
    assert r.json()["createdAt"] == got["createdAt"]  # system members: the client's ignored
    r = await c.delete("/dosi/v1/datasets/airkorea")  # another dataset derives from it
    assert r.status_code == 400 and "derived" in r.json()["detail"]
    assert (await c.delete("/dosi/v1/datasets/airkorea-daily")).status_code == 204
    assert (await c.delete("/dosi/v1/datasets/airkorea")).status_code == 204
    r = await c.get("/dosi/v1/datasets/airkorea")
    assert r.status_code == 404 and r.json()["type"].endswith("ResourceNotFound")


async def test_dcat_catalog_shape(client: httpx.AsyncClient) -> None:
    c = client
    region = {"type": "Polygon", "coordinates": [[[126.96, 37.55], [127.0, 37.55],
                                                  [127.0, 37.57], [126.96, 37.55]]]}
    await c.post("/dosi/v1/datasets", json=aq_dataset(
        description="Hourly air quality", provider="Korea Environment Corporation",
        license="https://www.kogl.or.kr/info/licenseType1.do", keywords=["air", "pm10"],
        region=region))
    await c.post("/dosi/v1/datasets", json={"id": "aq-daily", "title": "Daily means",
                                            "derivedFrom": ["airkorea"]})
    r = await c.get("/dosi/v1/catalog")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/ld+json")
    cat = r.json()
    assert cat["@type"] == "dcat:Catalog" and cat["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
    by_id = {d["dct:identifier"]: d for d in cat["dcat:dataset"]}
    aq = by_id["airkorea"]
    assert aq["@type"] == "dcat:Dataset" and aq["dct:title"] == "Air quality, Seoul"
    assert aq["dct:publisher"]["foaf:name"] == "Korea Environment Corporation"
    assert aq["dct:license"] == {"@id": "https://www.kogl.or.kr/info/licenseType1.do"}
    assert aq["dcat:keyword"] == ["air", "pm10"]
    assert aq["dct:accrualPeriodicity"]["@id"].endswith("/frequency/HOURLY")
    geom = aq["dct:spatial"]["locn:geometry"]
    assert geom["@type"].endswith("application/vnd.geo+json")
    assert json.loads(geom["@value"]) == region
    [dist] = aq["dcat:distribution"]
    url = dist["dcat:accessURL"]["@id"]
    assert "/ngsi-ld/v1/entities?type=" in url and "AirQualityObserved" in url
    assert by_id["aq-daily"]["prov:wasDerivedFrom"] == [{"@id": aq["@id"]}]
    assert aq["dct:issued"]["@type"] == "xsd:dateTime" and "dct:modified" in aq
    # read as RDF the way ckanext-dcat's harvester does (rdflib graph, DCAT terms)
    import rdflib
    from rdflib.namespace import DCAT, DCTERMS, FOAF, PROV, RDF

    g = rdflib.Graph().parse(data=r.text, format="json-ld")
    locn = rdflib.Namespace("http://www.w3.org/ns/locn#")
    datasets = set(g.subjects(RDF.type, DCAT.Dataset))
    assert len(datasets) == 2 and len(set(g.subjects(RDF.type, DCAT.Catalog))) == 1
    ds = rdflib.URIRef(aq["@id"])
    assert str(g.value(ds, DCTERMS.title)) == "Air quality, Seoul"
    assert {str(k) for k in g.objects(ds, DCAT.keyword)} == {"air", "pm10"}
    assert str(g.value(g.value(ds, DCTERMS.publisher), FOAF.name)) == \
        "Korea Environment Corporation"
    assert g.value(ds, DCTERMS.license) == rdflib.URIRef(
        "https://www.kogl.or.kr/info/licenseType1.do")
    spatial = g.value(ds, DCTERMS.spatial)
    assert (spatial, RDF.type, DCTERMS.Location) in g
    lit = g.value(spatial, locn.geometry)
    assert str(lit.datatype).endswith("vnd.geo+json") and json.loads(str(lit)) == region
    dist = g.value(ds, DCAT.distribution)
    assert (dist, RDF.type, DCAT.Distribution) in g
    assert str(g.value(dist, DCAT.accessURL)) == url
    derived = rdflib.URIRef(by_id["aq-daily"]["@id"])
    assert g.value(derived, PROV.wasDerivedFrom) == ds
    # the distribution URL answers (the expanded type needs no Link header)
    path = url.split("://", 1)[1].split("/", 1)[1]
    assert (await c.get("/" + path)).status_code == 200


async def test_custom_model_crud_and_validation(client: httpx.AsyncClient) -> None:
    c = client
    r = await c.post("/dosi/v1/models", json=WATER)
    assert r.status_code == 201
    assert (await c.post("/dosi/v1/models", json=WATER)).status_code == 409
    bad = {**WATER, "attributes": {"level": {"kind": "Thing"}}}
    r = await c.post("/dosi/v1/models", json=bad)
    assert r.status_code == 400 and "kind" in r.json()["detail"]
    r = await c.post("/dosi/v1/models", json={**WATER, "name": "AirQualityObserved"})
    assert r.status_code == 400  # a bundled model's name
    schema = (await c.get("/dosi/v1/models/RiverLevel/schema")).json()
    assert schema["properties"]["level"] == {"type": "number", "minimum": 0, "maximum": 20}
    assert "level" in schema["required"]
    await c.post("/dosi/v1/datasets", json={"id": "river", "title": "River gauges",
                                            "dataModel": "RiverLevel"})
    key = await make_key(c, "river")
    r = await c.post("/dosi/v1/ingest/river", headers={"X-API-Key": key},
                     json=[gauge(3.2), gauge(42, n=2), gauge(1.0, unit="CMT", n=3),
                           gauge(1.0, status="broken", n=4)])
    assert r.status_code == 200, r.text
    out = r.json()
    assert [v["status"] for v in out["verdicts"]] == ["accepted"] + ["rejected"] * 3
    reasons = [v["reason"] for v in out["verdicts"][1:]]
    assert "maximum" in reasons[0] and "unitCode 'CMT'" in reasons[1] and "status" in reasons[2]
    # the operator relaxes the model: replace it, then switch the dataset to flag
    relaxed = {**WATER, "attributes": {**WATER["attributes"],
                                       "level": {**WATER["attributes"]["level"], "maximum": 100}}}
    assert (await c.put("/dosi/v1/models/RiverLevel", json=relaxed)).status_code == 200
    await c.put("/dosi/v1/datasets/river", json={"id": "river", "title": "River gauges",
                                                 "dataModel": "RiverLevel",
                                                 "validation": "flag"})
    r = await c.post("/dosi/v1/ingest/river", headers={"X-API-Key": key},
                     json=[gauge(42, n=2), gauge(1.0, status="broken", n=4)])
    assert [v["status"] for v in r.json()["verdicts"]] == ["accepted", "flagged"]
    assert (await c.delete("/dosi/v1/models/RiverLevel")).status_code == 400  # in use
    await c.delete("/dosi/v1/datasets/river")
    assert (await c.delete("/dosi/v1/models/RiverLevel")).status_code == 204
    assert (await c.get("/dosi/v1/models/RiverLevel")).status_code == 404


async def test_push_needs_a_key_of_the_dataset(client: httpx.AsyncClient) -> None:
    c = client
    await c.post("/dosi/v1/datasets", json=aq_dataset())
    await c.post("/dosi/v1/datasets", json={"id": "other", "title": "Other"})
    other_key = await make_key(c, "other")
    row = aq_row("1", "20")
    r = await c.post("/dosi/v1/ingest/airkorea", json=row)
    assert r.status_code == 401 and r.json()["title"] == "Unauthorized"
    r = await c.post("/dosi/v1/ingest/airkorea", json=row, headers={"X-API-Key": other_key})
    assert r.status_code == 401
    key = await make_key(c, "airkorea")
    r = await c.post("/dosi/v1/ingest/airkorea", json=row,
                     headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.json()["accepted"] == 1
    [k] = (await c.get("/dosi/v1/datasets/airkorea/keys")).json()
    assert "key" not in k and "digest" not in k and k["source"] == "partner"
    assert (await c.delete(f"/dosi/v1/datasets/airkorea/keys/{k['keyId']}")).status_code == 204
    r = await c.post("/dosi/v1/ingest/airkorea", json=row, headers={"X-API-Key": key})
    assert r.status_code == 401  # revoked


async def test_push_is_idempotent(client: httpx.AsyncClient) -> None:
    c = client
    await c.post("/dosi/v1/datasets", json=aq_dataset())
    key = await make_key(c, "airkorea")
    row = aq_row("7", "20")
    headers = {"X-API-Key": key, "Idempotency-Key": "msg-0001"}
    first = await c.post("/dosi/v1/ingest/airkorea", json=row, headers=headers)
    row2 = {**row, "pm10Value": "25"}  # the same message id again: ignored
    again = await c.post("/dosi/v1/ingest/airkorea", json=row2, headers=headers)
    assert first.json() == again.json()
    eid = "urn:ngsi-ld:AirQualityObserved:7"
    link = {"Link": f'<{AQ_MAPPING.get("context", SDM_ENV)}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'}
    r = await c.get(f"/ngsi-ld/v1/temporal/entities/{eid}", params={"attrs": "pm10"},
                    headers=link)
    assert r.status_code == 200, r.text
    assert [i["value"] for i in r.json()["pm10"]] == [20]  # one history instance
    r = await c.post("/dosi/v1/ingest/airkorea", json=row2,
                     headers={**headers, "Idempotency-Key": "msg-0002"})
    r = await c.get(f"/ngsi-ld/v1/temporal/entities/{eid}", params={"attrs": "pm10"},
                    headers=link)
    assert sorted(i["value"] for i in r.json()["pm10"]) == [20, 25]


async def test_dead_letters_replay_and_quality(client: httpx.AsyncClient) -> None:
    c = client
    wrong = {**AQ_MAPPING, "id": "urn:ngsi-ld:AirQualityObserved:{station}"}  # a typo
    await c.post("/dosi/v1/datasets", json=aq_dataset(mapping=wrong))
    key = await make_key(c, "airkorea")
    rows = [aq_row(str(n), "20", no2Value="-") for n in range(3)]  # "-": missing
    r = await c.post("/dosi/v1/ingest/airkorea", json=rows, headers={"X-API-Key": key})
    assert r.json()["rejected"] == 3 and "station" in r.json()["verdicts"][0]["reason"]
    r = await c.post("/dosi/v1/ingest/airkorea", content=b'{"stationCode": ', headers={
        "X-API-Key": key, "Content-Type": "application/json"})
    assert r.json()["verdicts"][0]["reason"].startswith("payload is not JSON")
    r = await c.get("/dosi/v1/datasets/airkorea/deadletters")
    letters = r.json()
    assert r.headers["ngsild-results-count"] == "4" and len(letters) == 4
    assert json.loads(letters[0]["payload"]) == rows[0]
    assert letters[3]["payload"] == '{"stationCode": '
    q = (await c.get("/dosi/v1/datasets/airkorea/quality")).json()
    assert q["validity"]["rejected"] == 4 and q["validity"]["ratio"] == 0
    assert q["timeliness"]["status"] == "ok"
    [every] = (await c.get("/dosi/v1/quality")).json()
    assert every["dataset"] == "airkorea" and every["validity"] == q["validity"]
    # fix the mapping, replay: the three rows pass and leave; the broken JSON stays
    await c.put("/dosi/v1/datasets/airkorea", json=aq_dataset())
    r = await c.post("/dosi/v1/datasets/airkorea/deadletters/replay")
    assert r.json() == {"accepted": 3, "flagged": 0, "rejected": 1}
    letters = (await c.get("/dosi/v1/datasets/airkorea/deadletters")).json()
    assert [d["payload"] for d in letters] == ['{"stationCode": ']
    q = (await c.get("/dosi/v1/datasets/airkorea/quality")).json()
    assert q["validity"] == {"accepted": 3, "flagged": 0, "rejected": 1, "total": 4,
                             "ratio": 0.75, "cleanRatio": 0.75}
    # the attributes the mapping promises (name, dateObserved, pm10, no2, location, the
    # schema's required ones among them): no2 is missing in every row, so 4 of 5
    assert q["completeness"]["ratio"] == 0.8
    r = await c.delete(f"/dosi/v1/datasets/airkorea/deadletters?id={letters[0]['id']}")
    assert r.json() == {"deleted": 1}
    assert (await c.get("/dosi/v1/datasets/airkorea/deadletters")).json() == []


async def test_push_malformed_input_is_dead_lettered_while_good_records_flow(
        tmp_path: Any) -> None:
    from dosi.api.app import create_app
    from dosi.settings import Settings

    settings = Settings(auth=False, store_url=f"sqlite:///{tmp_path}/push.db",
                        max_body_bytes=64_000,
                        ingest_max_record_bytes=4_000)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
            mapping = {**AQ_MAPPING, "attributes": {
                **AQ_MAPPING["attributes"],
                "pm10Value": {"name": "pm10", "type": "number", "unitField": "pm10Unit",
                              "units": {"㎍/㎥": "GQ"}}}}
            await c.post("/dosi/v1/datasets", json=aq_dataset(mapping=mapping))
            key = await make_key(c, "airkorea")
            h = {"X-API-Key": key, "Content-Type": "application/json"}

            def good(n: int) -> dict[str, Any]:
                return aq_row(f"G{n}", "20", pm10Unit="㎍/㎥")

            bad = [
                (b'{"stationCode": "B1", "pm10Value": 3', "payload is not JSON"),
                (json.dumps(aq_row("B2", "20", pm10Unit="mg/m3")).encode(), "unit 'mg/m3'"),
                (json.dumps(aq_row("B3", "-20", pm10Unit="㎍/㎥")).encode(), "pm10"),
                (json.dumps({"id": "urn:ngsi-ld:Vehicle:B4", "type": "Vehicle",
                             "speed": {"type": "Property", "value": 3}}).encode(),
                 "not the dataset's data model"),
                (json.dumps(aq_row("B5", "20", pm10Unit="㎍/㎥", pad="x" * 8000)).encode(),
                 "larger than the limit"),
            ]
            statuses = []
            for n, (payload, _) in enumerate(bad):
                r = await c.post("/dosi/v1/ingest/airkorea", json=good(n), headers=h)
                statuses.append(r.json()["verdicts"][0]["status"])
                r = await c.post("/dosi/v1/ingest/airkorea", content=payload, headers=h)
                assert r.status_code == 200, r.text
                statuses.append(r.json()["verdicts"][0]["status"])
            assert statuses == ["accepted", "rejected"] * len(bad)
            r = await c.post("/dosi/v1/ingest/airkorea", content=b"x" * 70_000, headers=h)
            assert r.status_code == 413  # over the body limit: refused, never acknowledged
            letters = (await c.get("/dosi/v1/datasets/airkorea/deadletters")).json()
            assert [d["payload"].encode() for d in letters] == [p for p, _ in bad]
            for d, (_, needle) in zip(letters, bad):
                assert needle in d["reason"], (needle, d["reason"])
            for n in range(len(bad)):
                r = await c.get(f"/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:G{n}")
                assert r.status_code == 200


async def test_push_message_id_from_the_payload(client: httpx.AsyncClient) -> None:
    c = client
    mapping = {**AQ_MAPPING, "messageId": "msgId"}
    await c.post("/dosi/v1/datasets", json=aq_dataset(mapping=mapping))
    key = await make_key(c, "airkorea")
    batch = [aq_row("M1", "20", msgId="a-1"), aq_row("M2", "21", msgId="a-2")]
    first = await c.post("/dosi/v1/ingest/airkorea", json=batch, headers={"X-API-Key": key})
    assert first.json()["accepted"] == 2
    again = [aq_row("M1", "99", msgId="a-1"), aq_row("M3", "22", msgId="a-3")]
    r = await c.post("/dosi/v1/ingest/airkorea", json=again, headers={"X-API-Key": key})
    assert r.json()["accepted"] == 2  # a-1 answers as before, a-3 is new
    q = (await c.get("/dosi/v1/datasets/airkorea/quality")).json()
    assert q["validity"]["accepted"] == 3
    e = (await c.get("/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:M1",
                     params={"options": "keyValues"})).json()
    pm10 = [v for k, v in e.items() if k.endswith("pm10")]
    assert pm10 == [20]  # the re-sent a-1 changed nothing
