"""scopeQ (clause 4.19): pattern syntax, combination, and matching semantics."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosi.errors import BadRequestDataError, DosiError
from dosi.ngsild.query import matches_scope, parse_scope_q
from dosi.ngsild.query.ast import ScopeAnd, ScopeMatch, ScopeOr


def ent(*scopes: str) -> dict:
    return {"id": "urn:x", "type": ["T"], "scope": list(scopes)}


def test_parse_patterns_and_combinations():
    assert parse_scope_q("/Madrid/Gran_Via") == ScopeMatch("/Madrid/Gran_Via")
    assert parse_scope_q("/a/+,/b|/c") == ScopeOr(
        (ScopeMatch("/a/+"), ScopeMatch("/b"), ScopeMatch("/c"))
    )
    assert parse_scope_q("/a;(/b,/c)") == ScopeAnd(
        (ScopeMatch("/a"), ScopeOr((ScopeMatch("/b"), ScopeMatch("/c"))))
    )
    assert parse_scope_q("/#") == ScopeMatch("/#")
    assert parse_scope_q("/서울/Jung-gu") == ScopeMatch("/서울/Jung-gu")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Madrid", "must start with '/'"),
        ("/a//b", "empty scope level"),
        ("/a/", "empty scope level"),
        ("/", "empty scope level"),
        ("/a/#/b", "'#' must be the last level"),
        ("/a b", "operator is missing"),
        ("/a/b*", "may only contain"),
        ("(/a", "not closed"),
        ("", "empty"),
    ],
)
def test_invalid_scopes_are_rejected(text, fragment):
    with pytest.raises(BadRequestDataError) as err:
        parse_scope_q(text)
    assert fragment in str(err.value)


def test_exact_match():
    q = parse_scope_q("/Madrid/Gran_Via")
    assert matches_scope(q, ent("/Madrid/Gran_Via"))
    assert not matches_scope(q, ent("/Madrid"))
    assert not matches_scope(q, ent("/Madrid/Gran_Via/Norte"))


def test_plus_matches_exactly_one_level():
    q = parse_scope_q("/Madrid/+")
    assert matches_scope(q, ent("/Madrid/Gran_Via"))
    assert not matches_scope(q, ent("/Madrid"))
    assert not matches_scope(q, ent("/Madrid/Gran_Via/Norte"))
    assert matches_scope(parse_scope_q("/+/Gran_Via"), ent("/Madrid/Gran_Via"))


def test_hash_matches_the_scope_itself_and_everything_below():
    q = parse_scope_q("/Madrid/#")
    assert matches_scope(q, ent("/Madrid"))
    assert matches_scope(q, ent("/Madrid/Gran_Via/Norte"))
    assert not matches_scope(q, ent("/Madridx"))
    assert not matches_scope(q, ent("/Barcelona/Madrid"))
    assert matches_scope(parse_scope_q("/#"), ent("/anything/at/all"))


def test_entities_without_scope_never_match():
    assert not matches_scope(parse_scope_q("/#"), {"id": "urn:x", "type": ["T"]})


def test_and_or_over_several_scopes():
    e = ent("/Madrid/Gran_Via", "/Company/Sales")
    assert matches_scope(parse_scope_q("/Madrid/+;/Company/#"), e)
    assert not matches_scope(parse_scope_q("/Madrid/+;/Company/HR"), e)
    assert matches_scope(parse_scope_q("/Company/HR,/Madrid/Gran_Via"), e)


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from(list("/ab+#(),;| ")), max_size=25) | st.text())
def test_random_input_only_raises_dosi_errors(text):
    try:
        expr = parse_scope_q(text)
    except DosiError:
        return
    matches_scope(expr, ent("/a/b", "/b"))
