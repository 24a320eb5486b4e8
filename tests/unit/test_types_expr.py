"""Entity type selection (clause 4.17): parsing, precedence, errors, robustness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosi.errors import BadRequestDataError, DosiError, InvalidRequestError
from dosi.ngsild.context import build_context
from dosi.ngsild.query import matches_types, parse_type_expr
from dosi.ngsild.query.ast import ANY_TYPE, TypeAnd, TypeName, TypeOr

CTX = build_context({"ex": "https://example.org/", "Building": "ex:Building"})
EX = CTX.expand
B, P, T = (TypeName(EX(n)) for n in ("Building", "Parking", "TouristDestination"))


def test_single_name_is_expanded():
    assert parse_type_expr("Building", EX) == TypeName("https://example.org/Building")
    assert parse_type_expr("ex:Parking", EX) == TypeName("https://example.org/Parking")
    assert parse_type_expr("https://a.org/T", EX) == TypeName("https://a.org/T")


def test_comma_and_pipe_are_or_semicolon_is_and():
    assert parse_type_expr("Building,Parking", EX) == TypeOr((B, P))
    assert parse_type_expr("Building|Parking", EX) == TypeOr((B, P))
    assert parse_type_expr("Building;Parking", EX) == TypeAnd((B, P))


def test_and_binds_tighter_and_parentheses_group():
    assert parse_type_expr("Building,Parking;TouristDestination", EX) == TypeOr(
        (B, TypeAnd((P, T)))
    )
    assert parse_type_expr("(Building;Parking),TouristDestination", EX) == TypeOr(
        (TypeAnd((B, P)), T)
    )
    assert parse_type_expr("Building;(Parking|TouristDestination)", EX) == TypeAnd(
        (B, TypeOr((P, T)))
    )


def test_whitespace_is_tolerated_and_nesting_flattened():
    assert parse_type_expr(" ( Building , Parking ) , TouristDestination ", EX) == TypeOr((B, P, T))


def test_star_selects_any_type():
    assert parse_type_expr("*", EX) == TypeName(ANY_TYPE)
    assert matches_types(parse_type_expr("*", EX), {"type": ["urn:x"]})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("Building,", "term is expected"),
        ("(Building", "not closed"),
        ("Building)", "unexpected ')'"),
        ("Building Parking", "operator is missing"),
        (";Building", "a term is expected"),
        ('Bui"lding', "not allowed"),
    ],
)
def test_syntax_errors_are_bad_request_data_with_a_readable_message(text, fragment):
    with pytest.raises(BadRequestDataError) as err:
        parse_type_expr(text, EX)
    assert fragment in str(err.value)


def test_size_guards_are_invalid_request():
    with pytest.raises(InvalidRequestError):
        parse_type_expr("(" * 40 + "A" + ")" * 40, EX)
    with pytest.raises(InvalidRequestError):
        parse_type_expr("A" * 9000, EX)


def test_matching_against_the_type_list():
    entity = {"type": [EX("Building"), EX("TouristDestination")]}
    assert matches_types(parse_type_expr("Building;TouristDestination", EX), entity)
    assert matches_types(parse_type_expr("Parking,TouristDestination", EX), entity)
    assert not matches_types(parse_type_expr("Building;Parking", EX), entity)
    assert matches_types(parse_type_expr("(Building;Parking),TouristDestination", EX), entity)


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from(list('AB(),;| *"[]x:/')), max_size=30) | st.text())
def test_random_input_only_raises_dosi_errors(text):
    try:
        parse_type_expr(text, EX)
    except DosiError:
        pass
