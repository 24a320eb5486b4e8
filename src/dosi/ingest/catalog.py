"""The dataset catalog, pure: checking a dataset document, quality figures from the
stored counters, and the catalog as DCAT-AP JSON-LD (harvestable by ckanext-dcat)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from dosi.errors import DosiError
from dosi.ingest.errors import MappingError
from dosi.ingest.mapping import Mapping
from dosi.ngsild.temporal import parse_duration
from dosi.storage.ingest_base import QualityCounters

DATASET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FIELDS = {"id", "title", "description", "provider", "license", "keywords", "updateInterval",
           "region", "dataModel", "personalData", "retention", "derivedFrom", "mapping",
           "validation", "tenant", "context", "createdAt", "modifiedAt"}
_GEOMETRIES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
               "MultiPolygon")


def duration_seconds(text: str) -> float:
    d = parse_duration(text)
    return d.months * 30 * 86400 + d.ms / 1000  # a month counted as 30 days


def check_dataset(doc: Any) -> dict[str, Any]:
    """A dataset document as the API takes it (MappingError with a readable reason)."""
    if not isinstance(doc, dict):
        raise MappingError("a dataset is a JSON object")
    unknown = set(doc) - _FIELDS
    if unknown:
        raise MappingError(f"unknown dataset fields {sorted(unknown)} (known: {sorted(_FIELDS)})")
    if not isinstance(doc.get("id"), str) or not DATASET_ID.match(doc["id"]):
        raise MappingError("id: 1-64 letters, digits, '_', '.', '-'")
    if not isinstance(doc.get("title"), str) or not doc["title"].strip():
        raise MappingError("title: a non-empty string")
    for key in ("description", "provider", "license", "dataModel", "tenant"):
        if key in doc and not isinstance(doc[key], str):
            raise MappingError(f"{key}: a string")
    for key in ("keywords", "derivedFrom", "context"):
        if key in doc and not (isinstance(doc[key], list)
                               and all(isinstance(x, str) for x in doc[key])):
            raise MappingError(f"{key}: a list of strings")
    for key in ("updateInterval", "retention"):
        if key in doc:
            try:
                duration_seconds(doc[key])
            except (DosiError, TypeError):
                raise MappingError(f"{key}: an ISO 8601 duration such as PT1H or P1Y") from None
    if "personalData" in doc and not isinstance(doc["personalData"], bool):
        raise MappingError("personalData: true or false")
    if doc.get("validation", "reject") not in ("reject", "flag"):
        raise MappingError("validation: reject or flag")
    region = doc.get("region")
    if region is not None and not (isinstance(region, dict) and region.get("type") in _GEOMETRIES
                                   and isinstance(region.get("coordinates"), list)):
        raise MappingError("region: a GeoJSON geometry (Point, Polygon, MultiPolygon...)")
    if doc["id"] in doc.get("derivedFrom", []):
        raise MappingError("derivedFrom: a dataset cannot be derived from itself")
    if doc.get("mapping") is not None:
        try:
            m = Mapping(doc["mapping"])
        except (MappingError, ValueError) as exc:
            raise MappingError(f"mapping: {exc}") from None
        if doc.get("dataModel") and m.type != doc["dataModel"]:
            raise MappingError(f"mapping: type {m.type!r} is not the dataModel "
                               f"{doc['dataModel']!r}")
    return doc


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def quality_figures(doc: dict[str, Any], q: QualityCounters,
                    now: datetime | None = None) -> dict[str, Any]:
    """Validity, completeness and timeliness of a dataset from its counters.

    Timeliness: ``ok`` while the last record is at most 1.5 update intervals old,
    ``late`` up to 3 intervals, ``silent`` beyond that or when nothing ever came."""
    now = now or datetime.now(UTC)
    total = q.accepted + q.flagged + q.rejected
    out: dict[str, Any] = {
        "dataset": doc["id"],
        "validity": {
            "accepted": q.accepted, "flagged": q.flagged, "rejected": q.rejected,
            "total": total,
            "ratio": round((q.accepted + q.flagged) / total, 4) if total else None,
            "cleanRatio": round(q.accepted / total, 4) if total else None,
        },
        "completeness": {
            "ratio": round(q.attrs_present / q.attrs_expected, 4) if q.attrs_expected else None,
            "attributesPresent": q.attrs_present, "attributesExpected": q.attrs_expected,
        },
    }
    timeliness: dict[str, Any] = {"lastRecordAt": q.last_record_at,
                                  "lastAcceptedAt": q.last_accepted_at}
    interval = doc.get("updateInterval")
    if interval:
        secs = duration_seconds(interval)
        timeliness["updateInterval"] = interval
        if q.last_record_at is None:
            timeliness.update(status="silent", ageSeconds=None)
        else:
            age = (now - parse_iso(q.last_record_at)).total_seconds()
            status = "ok" if age <= 1.5 * secs else "late" if age <= 3 * secs else "silent"
            timeliness.update(status=status, ageSeconds=round(age, 1))
    else:
        timeliness["status"] = "unknown"  # no update interval to compare with
    out["timeliness"] = timeliness
    return out


# --- DCAT-AP ---

DCAT_CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "locn": "http://www.w3.org/ns/locn#",
    "prov": "http://www.w3.org/ns/prov#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
GEOJSON_TYPE = "https://www.iana.org/assignments/media-types/application/vnd.geo+json"
_FREQ = "http://publications.europa.eu/resource/authority/frequency/"
_FREQUENCIES = [(60, "UPDATE_CONT"), (3600, "HOURLY"), (86400, "DAILY"), (7 * 86400, "WEEKLY"),
                (31 * 86400, "MONTHLY"), (366 * 86400, "ANNUAL")]


def frequency(interval: str) -> str:
    """The EU frequency vocabulary term nearest above an update interval."""
    secs = duration_seconds(interval)
    for limit, term in _FREQUENCIES:
        if secs <= limit:
            return _FREQ + term
    return _FREQ + "IRREG"


def dcat_catalog(datasets: list[dict[str, Any]], base_url: str,
                 type_iris: dict[str, str], title: str = "dosi data hub") -> dict[str, Any]:
    """The catalog as DCAT-AP JSON-LD. ``type_iris``: data model name -> expanded type IRI
    (for the NGSI-LD query URL of each dataset's distribution)."""
    base = base_url.rstrip("/")
    items = [_dataset(d, base, type_iris) for d in datasets]
    return {
        "@context": DCAT_CONTEXT,
        "@id": f"{base}/dosi/v1/catalog",
        "@type": "dcat:Catalog",
        "dct:title": title,
        "dct:description": "Datasets flowing into this dosi hub (NGSI-LD).",
        "foaf:homepage": {"@id": f"{base}/"},
        "dcat:dataset": items,
    }


def dataset_iri(base: str, ds_id: str) -> str:
    return f"{base}/dosi/v1/datasets/{quote(ds_id)}"


def _dataset(d: dict[str, Any], base: str, type_iris: dict[str, str]) -> dict[str, Any]:
    iri = dataset_iri(base, d["id"])
    out: dict[str, Any] = {
        "@id": iri, "@type": "dcat:Dataset", "dct:identifier": d["id"],
        "dct:title": d["title"], "dcat:landingPage": {"@id": iri},
    }
    if d.get("description"):
        out["dct:description"] = d["description"]
    for key, term in (("createdAt", "dct:issued"), ("modifiedAt", "dct:modified")):
        if d.get(key):
            out[term] = {"@value": d[key], "@type": "xsd:dateTime"}
    if d.get("provider"):
        out["dct:publisher"] = {"@type": "foaf:Agent", "foaf:name": d["provider"]}
    if d.get("license"):
        out["dct:license"] = _ref_or_text(d["license"])
    if d.get("keywords"):
        out["dcat:keyword"] = d["keywords"]
    if d.get("updateInterval"):
        out["dct:accrualPeriodicity"] = {"@id": frequency(d["updateInterval"])}
        out["dcat:temporalResolution"] = {"@value": d["updateInterval"],
                                          "@type": "xsd:duration"}
    if d.get("region"):
        import json

        out["dct:spatial"] = {"@type": "dct:Location", "locn:geometry": {
            "@value": json.dumps(d["region"], separators=(",", ":")), "@type": GEOJSON_TYPE}}
    if d.get("derivedFrom"):
        out["prov:wasDerivedFrom"] = [{"@id": dataset_iri(base, x)} for x in d["derivedFrom"]]
    if d.get("dataModel"):
        out["dct:conformsTo"] = {"@id": type_iris.get(d["dataModel"], d["dataModel"])}
        type_iri = type_iris.get(d["dataModel"], d["dataModel"])
        url = f"{base}/ngsi-ld/v1/entities?type={quote(type_iri, safe='')}"
        dist: dict[str, Any] = {
            "@id": f"{iri}#ngsi-ld", "@type": "dcat:Distribution",
            "dct:title": f"{d['title']} (NGSI-LD entities)",
            "dcat:accessURL": {"@id": url},
            "dct:format": "JSON-LD",
            "dcat:mediaType": {"@id": "https://www.iana.org/assignments/media-types/"
                                      "application/ld+json"},
        }
        if d.get("license"):
            dist["dct:license"] = _ref_or_text(d["license"])
        out["dcat:distribution"] = [dist]
    return out


def _ref_or_text(value: str) -> Any:
    return {"@id": value} if re.match(r"^[a-z][a-z0-9+.-]*:", value) else value
