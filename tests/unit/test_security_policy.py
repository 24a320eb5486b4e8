"""Rules and roles, pure: deny wins, attribute rules, tenant scoping, baselines, and
the type scopes that become part of queries."""

from __future__ import annotations

from dosi.security.policy import Policy, Rule, TypeScope

V, P, D, S = "urn:t:Vehicle", "urn:t:Parking", "urn:a:driver", "urn:a:speed"


def policy(*rules: Rule, roles: tuple[str, ...] = ("consumer",)) -> Policy:
    return Policy(frozenset(roles), rules)


def test_consumer_has_only_what_rules_give() -> None:
    p = policy(Rule("consumer", frozenset({"read"}), type=V))
    assert p.allows("read", "", [V]) and not p.allows("read", "", [P])
    assert not p.allows("write", "", [V])
    assert p.scope("read", "") == TypeScope(False, include=frozenset({V}))
    assert policy().scope("read", "").empty


def test_deny_wins_and_reaches_multi_typed_entities() -> None:
    p = policy(Rule("consumer", frozenset({"read"})),
               Rule("consumer", frozenset({"read"}), type=P, effect="deny"))
    assert p.allows("read", "", [V]) and not p.allows("read", "", [P])
    assert not p.allows("read", "", [V, P])
    assert p.scope("read", "") == TypeScope(True, exclude=frozenset({P}))


def test_attribute_rules() -> None:
    p = policy(Rule("consumer", frozenset({"read"}), type=V),
               Rule("consumer", frozenset({"read"}), type=V, attribute=D, effect="deny"))
    assert p.allows("read", "", [V], S) and not p.allows("read", "", [V], D)
    assert p.attr_rules("read", "")
    only = policy(Rule("consumer", frozenset({"read"}), type=V, attribute=S))
    assert only.allows("read", "", [V])  # the entity is reachable through speed
    assert only.allows("read", "", [V], S) and not only.allows("read", "", [V], D)


def test_rules_name_tenants_and_roles() -> None:
    p = policy(Rule("consumer", frozenset({"read"}), tenant="a"),
               Rule("public", frozenset({"read"})))
    assert p.allows("read", "a", [V]) and not p.allows("read", "b", [V])
    assert not p.has_any("read", "b")


def test_baselines() -> None:
    admin = policy(roles=("data-admin",))
    assert all(admin.allows(op, "x", [V]) for op in ("read", "write", "delete", "subscribe"))
    conn = policy(roles=("connectivity-admin",))
    assert conn.allows("write", "", [V]) and not conn.allows("delete", "", [V])
    limited = policy(Rule("data-admin", frozenset({"read"}), attribute=D, effect="deny"),
                     roles=("data-admin",))
    assert not limited.allows("read", "", [V], D)
    root = policy(Rule("system-admin", frozenset({"read"}), effect="deny"),
                  roles=("system-admin",))
    assert root.allows("read", "", [V], D)  # the system admin is above rules


def test_type_scope_intersection() -> None:
    every = TypeScope(True, exclude=frozenset({P}))
    some = TypeScope(False, include=frozenset({V, P}))
    assert every & some == TypeScope(False, include=frozenset({V}))
    assert (TypeScope(False) & every).empty
    assert (every & TypeScope(True, exclude=frozenset({V}))).exclude == {V, P}


def test_privacy_declarations_bring_their_retention() -> None:
    import pytest

    from dosi.services.retention import retention_rules
    from dosi.settings import Settings

    s = Settings(history_retention=[{"keep": "P2Y"}],
                 privacy=[{"type": "urn:t:Trip", "keep": "P30D"}])
    rules = retention_rules(s)
    assert any(r.type == "urn:t:Trip" and r.keep_ms == 30 * 86_400_000 for r in rules)
    with pytest.raises(ValueError):
        Settings(privacy=[{"type": "urn:t:Trip", "keep": "a month"}])
    with pytest.raises(ValueError):
        Settings(privacy=[{"type": "urn:t:Trip", "time_precision": "minute"}])
