"""The q language parser (clause 4.9): ASTs, value typing, paths, errors, robustness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosi.errors import BadRequestDataError, DosiError, InvalidRequestError
from dosi.ngsild.context import build_context
from dosi.ngsild.query import MAX_Q_DEPTH, attr_names, parse_q
from dosi.ngsild.query.ast import And, AttrPath, Comparison, Or, Range

CTX = build_context(
    {"ex": "https://example.org/", "speed": "ex:speed", "Commercial": "ex:Commercial"}
)
EX = CTX.expand
V = "https://uri.etsi.org/ngsi-ld/default-context/"


def path(name: str, *sub: str, keys: tuple[str, ...] = ()) -> AttrPath:
    return AttrPath(EX(name), tuple(sub), keys)


def test_operators_and_number_values():
    assert parse_q("speed>50", EX) == Comparison(path("speed"), ">", 50)
    assert parse_q("speed>=50.5", EX) == Comparison(path("speed"), ">=", 50.5)
    assert parse_q("speed<-3", EX) == Comparison(path("speed"), "<", -3)
    assert parse_q("speed<=1e3", EX) == Comparison(path("speed"), "<=", 1000.0)
    assert parse_q("speed==5", EX) == Comparison(path("speed"), "==", 5)
    assert parse_q("speed!=5", EX) == Comparison(path("speed"), "!=", 5)
    assert parse_q("speed", EX) == Comparison(path("speed"))
    assert parse_q("!speed", EX) == Comparison(path("speed"), "!")


def test_names_are_expanded():
    assert parse_q("speed==1", EX).path.attr == "https://example.org/speed"
    assert parse_q("brand==1", EX).path.attr == V + "brand"
    assert parse_q("ex:brand==1", EX).path.attr == "https://example.org/brand"


def test_value_kinds():
    assert parse_q('name=="Eiffel Tower"', EX).value == "Eiffel Tower"
    assert parse_q('name=="5"', EX).value == "5"  # quoted: a string, not a number
    assert parse_q("flag==true", EX).value is True
    assert parse_q("flag==false", EX).value is False
    assert parse_q("rel==urn:ngsi-ld:City:Pisa", EX).value == "urn:ngsi-ld:City:Pisa"
    assert parse_q("at>2020-01-01T10:00:00Z", EX).value == "2020-01-01T10:00:00Z"
    assert parse_q("day==2020-01-01", EX).value == "2020-01-01"
    assert parse_q("t<12:30:00Z", EX).value == "12:30:00Z"
    assert parse_q("category==commercial", EX).value == "commercial"  # bare word: a string


def test_a_plus_decoded_as_space_in_a_datetime_offset_is_repaired():
    assert parse_q("at>2020-01-01T10:00:00 02:00", EX).value == "2020-01-01T10:00:00+02:00"


def test_string_escapes():
    assert parse_q(r'name=="say \"hi\""', EX).value == 'say "hi"'
    assert parse_q(r'name=="a\\b"', EX).value == "a\\b"
    assert parse_q(r'name~="\d+"', EX).value == r"\d+"


def test_ranges_and_value_lists():
    assert parse_q("level==4..5", EX).value == Range(4, 5)
    assert parse_q("level!=1.5..2.5", EX).value == Range(1.5, 2.5)
    assert parse_q('name=="a".."m"', EX).value == Range("a", "m")
    assert parse_q("at==2020-01-01T00:00:00Z..2020-12-31T23:59:59Z", EX).value == Range(
        "2020-01-01T00:00:00Z", "2020-12-31T23:59:59Z"
    )
    assert parse_q('name=="Eiffel Tower","Pisa Tower"', EX).value == ("Eiffel Tower", "Pisa Tower")
    assert parse_q("level==1,2,3", EX).value == (1, 2, 3)
    assert parse_q("rel==urn:a:1, urn:a:2", EX).value == ("urn:a:1", "urn:a:2")
    assert parse_q("site==http://x.org/a/../b", EX).value == "http://x.org/a/../b"  # not a range


def test_logic_precedence_and_parentheses():
    a, b, c = (Comparison(path(n)) for n in ("a", "b", "c"))
    assert parse_q("a;b|c", EX) == Or((And((a, b)), c))
    assert parse_q("a|b;c", EX) == Or((a, And((b, c))))
    assert parse_q("(a|b);c", EX) == And((Or((a, b)), c))
    assert parse_q("a;(b;c)", EX) == And((a, b, c))
    assert parse_q(" ( a ) ; b ", EX) == And((a, b))


def test_sub_attribute_paths_keep_core_members():
    got = parse_q("speed.accuracy.observedAt>2020-01-01T00:00:00Z", EX)
    assert got.path == AttrPath(EX("speed"), (V + "accuracy", "observedAt"))
    for member in ("unitCode", "createdAt", "modifiedAt", "datasetId"):
        assert parse_q(f"speed.{member}", EX).path.sub == (member,)
    # a core member that is not last is an ordinary (expanded) name
    assert parse_q("speed.datasetId.x", EX).path.sub == (
        "https://uri.etsi.org/ngsi-ld/datasetId",
        V + "x",
    )


def test_bracket_trails_both_forms():
    assert parse_q('address[city]=="Berlin"', EX).path == path("address", keys=("city",))
    assert parse_q("a[k1][k2]==1", EX).path == path("a", keys=("k1", "k2"))
    assert parse_q("a[k1.k2]==1", EX).path == path("a", keys=("k1", "k2"))
    assert parse_q("a.b[k]", EX).path == AttrPath(EX("a"), (V + "b",), ("k",))
    assert parse_q('color[*]=="rouge"', EX).path.keys == ("*",)


def test_regular_expressions():
    assert parse_q('name~="^Eiffel"', EX).value == "^Eiffel"
    assert parse_q("name~=(?i)tower", EX).value == "(?i)tower"
    # a bare regex ends at ; or | outside groups; inside groups | belongs to the regex
    got = parse_q("name~=(a|b)x;level==1", EX)
    assert isinstance(got, And) and got.items[0].value == "(a|b)x"
    assert parse_q("(name~=abc)", EX).value == "abc"


def test_expand_values_expands_string_values_of_listed_attributes():
    got = parse_q("category==Commercial", EX, expand_values={"category"})
    assert got.value == "https://example.org/Commercial"
    assert parse_q("category==Commercial", EX).value == "Commercial"
    got = parse_q('category=="Commercial",urn:x', EX, expand_values={"category"})
    assert got.value == ("https://example.org/Commercial", "urn:x")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("a==", "a value is expected"),
        ("a=1", "unexpected '='"),
        ("a===1", "unexpected characters"),
        ("a<>1", "unexpected"),
        ("(a==1", "')' is missing"),
        ("a==1)", "unexpected ')'"),
        ("a==1;", "attribute name is expected"),
        ('a=="x', "not terminated"),
        ("a[k==1", "']' is missing"),
        ("a[]==1", "invalid key"),
        ("a[k].b==1", "after ']'"),
        ("a>1..5", "ranges can only be used with == and !="),
        ("a>=1,2", "value lists can only be used"),
        ("a>true", "> needs a number"),
        ('a==1.."z"', "same type"),
        ("a==1..", "no upper bound"),
        ("a==..5", "no lower bound"),
        ("a==5..x..y", "same type"),
        ("a==1,2..3", "range cannot be part of a value list"),
        ("a~=(", "invalid regular expression"),
        ("a~=", "regular expression is expected"),
        ("a==(1)", "unexpected characters"),
        ("a==1e999", "out of range"),
        ("at==2020-13-45T00:00:00Z", "not a valid DateTime"),
        ('managedBy{name}=="Pisa"', "Linked Entity"),
        ("a==1 2", "unexpected characters"),
        ("name==Eiffel Tower", "quote strings"),
    ],
)
def test_syntax_errors_are_bad_request_data_with_messages(text, fragment):
    with pytest.raises(BadRequestDataError) as err:
        parse_q(text, EX)
    assert fragment in str(err.value), str(err.value)


def test_depth_length_and_term_guards_are_invalid_request():
    deep = "(" * (MAX_Q_DEPTH + 1) + "a" + ")" * (MAX_Q_DEPTH + 1)
    with pytest.raises(InvalidRequestError, match="nested deeper"):
        parse_q(deep, EX)
    assert parse_q("(" * MAX_Q_DEPTH + "a" + ")" * MAX_Q_DEPTH, EX) == Comparison(path("a"))
    with pytest.raises(InvalidRequestError, match="longer than"):
        parse_q("a==" + "1" * 9000, EX)
    with pytest.raises(InvalidRequestError, match="query terms"):
        parse_q(";".join(["a"] * 300), EX)


def test_attr_names_lists_top_level_attributes():
    assert attr_names(parse_q("speed>1;(brand|speed.accuracy>0)", EX)) == {EX("speed"), V + "brand"}


# --- properties ---

NAMES = st.sampled_from(["speed", "brand", "a1", "level_2"])
SCALARS = st.integers(-(10**6), 10**6) | st.text(
    alphabet=st.characters(blacklist_characters='"\\', blacklist_categories=("Cs",)), max_size=8
).map(lambda s: ("str", s))
OPS = st.sampled_from(["==", "!=", ">", ">=", "<", "<="])


@st.composite
def comparisons(draw):
    name, op, value = draw(NAMES), draw(OPS), draw(SCALARS)
    if isinstance(value, tuple):
        return f'{name}{op}"{value[1]}"', Comparison(path(name), op, value[1])
    return f"{name}{op}{value}", Comparison(path(name), op, value)


def expressions():
    def combine(children):
        return st.tuples(
            st.sampled_from([";", "|"]), st.lists(children, min_size=2, max_size=3)
        ).map(
            lambda t: (
                t[0].join(f"({text})" for text, _ in t[1]),
                (And if t[0] == ";" else Or)(
                    tuple(
                        x
                        for _, node in t[1]
                        for x in (
                            node.items if isinstance(node, And if t[0] == ";" else Or) else (node,)
                        )
                    )
                ),
            )
        )

    return st.recursive(comparisons(), combine, max_leaves=8)


@settings(max_examples=200, deadline=None, database=None)
@given(expressions())
def test_rendered_expressions_parse_back_to_the_same_ast(pair):
    text, expected = pair
    assert parse_q(text, EX) == expected


@settings(max_examples=500, deadline=None, database=None)
@given(
    st.text(alphabet=st.sampled_from(list('ab.[]{}()=!<>~;|,"\\1 .:-T*')), max_size=30)
    | st.text(max_size=40)
)
def test_random_input_only_raises_dosi_errors(text):
    try:
        parse_q(text, EX)
    except DosiError:
        pass
