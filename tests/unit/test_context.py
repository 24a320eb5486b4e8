"""JSON-LD @context handling: expansion, compaction, core precedence, remote loading."""

from __future__ import annotations

import pytest

from dosi.errors import BadRequestDataError, LdContextNotAvailableError
from dosi.ngsild.context import DEFAULT_VOCAB, build_context, core_context, is_core_context_url

USER = {"Vehicle": "https://example.org/Vehicle", "ex": "https://example.org/ns#",
        "speed": {"@id": "ex:speed", "@type": "@id"}, "cat": {"@id": "ex:cat", "@type": "@vocab"}}


def test_core_only_uses_default_vocab_and_core_terms():
    ctx = core_context()
    assert ctx.expand("speed") == DEFAULT_VOCAB + "speed"
    assert ctx.expand("location") == "https://uri.etsi.org/ngsi-ld/location"
    assert ctx.compact(DEFAULT_VOCAB + "speed") == "speed"
    assert ctx.compact("https://uri.etsi.org/ngsi-ld/location") == "location"
    assert ctx.expand("urn:ngsi-ld:Thing:1") == "urn:ngsi-ld:Thing:1"
    assert ctx.expand("https://other.org/x") == "https://other.org/x"


def test_user_terms_prefixes_and_round_trip():
    ctx = build_context(USER)
    assert ctx.expand("Vehicle") == "https://example.org/Vehicle"
    assert ctx.expand("speed") == "https://example.org/ns#speed"
    assert ctx.expand("ex:brand") == "https://example.org/ns#brand"
    assert ctx.compact("https://example.org/ns#speed") == "speed"
    assert ctx.compact("https://example.org/ns#brand") == "ex:brand"
    assert ctx.compact("https://nowhere.org/a") == "https://nowhere.org/a"


def test_core_terms_cannot_be_overridden():
    ctx = build_context({"location": "https://example.org/myLocation"})
    assert ctx.expand("location") == "https://uri.etsi.org/ngsi-ld/location"


def test_remote_contexts_come_from_the_loader():
    docs = {"http://127.0.0.1:1/ctx.jsonld": {"@context": USER}}
    ctx = build_context(
        ["http://127.0.0.1:1/ctx.jsonld", "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"],
        loader=docs.__getitem__,
    )
    assert ctx.expand("Vehicle") == "https://example.org/Vehicle"
    with pytest.raises(LdContextNotAvailableError):
        build_context("http://127.0.0.1:1/other.jsonld")


def test_core_urls_of_every_version_are_known():
    for v in ("", "-v1.3", "-v1.6", "-v1.8", "-v1.9"):
        assert is_core_context_url(f"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context{v}.jsonld")
    assert not is_core_context_url("https://example.org/ngsi-ld-core-context.jsonld")


def test_bad_context_entries_are_rejected():
    with pytest.raises(BadRequestDataError):
        build_context([42])
    with pytest.raises(BadRequestDataError):
        build_context("not-a-url")
