"""``dosi auth`` (clients, API keys, rules, tokens) and ``dosi audit`` (list, verify).

They open the hub's store (``--store`` or ``DOSI_STORE_URL``) directly, so they work
with the hub running or not; a running hub sees changes within ``auth_cache_ttl``.
Secrets are printed once, at creation, and never stored in the clear.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from dosi.errors import DosiError
from dosi.security.policy import ANY, OPERATIONS, ROLES, Rule


def add_parsers(sub: Any) -> None:
    auth = sub.add_parser("auth", help="clients, API keys, roles/rules and tokens")
    auth.add_argument("--store", default=None, help="store URL (default DOSI_STORE_URL)")
    a = auth.add_subparsers(dest="auth_command", required=True)

    c = a.add_parser("client", help="OAuth2 clients of the built-in token issuer")
    cs = c.add_subparsers(dest="action", required=True)
    cc = cs.add_parser("create", help="create a client; prints its id and secret once")
    _scope_args(cc)
    cc.add_argument("--id", default=None, help="client id (default: generated)")
    cs.add_parser("list", help="list clients")
    cr = cs.add_parser("revoke", help="revoke a client (its tokens stop working)")
    cr.add_argument("id")

    k = a.add_parser("key", help="machine API keys (X-API-Key header)")
    ks = k.add_subparsers(dest="action", required=True)
    kc = ks.add_parser("create", help="create a key; prints it once")
    _scope_args(kc)
    ks.add_parser("list", help="list keys")
    kr = ks.add_parser("revoke", help="revoke a key")
    kr.add_argument("id")

    r = a.add_parser("rule", help="rules over tenant x type x attribute x operation")
    rs = r.add_subparsers(dest="action", required=True)
    ra = rs.add_parser("add", help="add a rule")
    ra.add_argument("--role", required=True, choices=ROLES)
    ra.add_argument("--ops", required=True,
                    help=f"comma-separated: {','.join(OPERATIONS)}")
    ra.add_argument("--tenant", default=ANY, help="tenant ('' the default one; * any)")
    ra.add_argument("--type", default=ANY, help="entity type IRI (* any)")
    ra.add_argument("--attribute", default=ANY, help="attribute IRI (* any)")
    ra.add_argument("--deny", action="store_true", help="withdraw instead of grant")
    rs.add_parser("list", help="list rules")
    rd = rs.add_parser("delete", help="delete a rule")
    rd.add_argument("id")
    a.add_parser("roles", help="list the roles")
    pk = a.add_parser("privacy-key", help="the pseudonymisation key (DOSI_PRIVACY)")
    pks = pk.add_subparsers(dest="action", required=True)
    pks.add_parser("rotate", help="start a new key version (hubs pick it up at restart); "
                   "new pseudonyms no longer link to older ones")

    t = a.add_parser("token", help="print an access token for a client")
    t.add_argument("client_id")
    t.add_argument("--secret", default=None, help="the client's secret (checked if given)")
    t.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")

    audit = sub.add_parser("audit", help="the hash-chained audit log")
    audit.add_argument("--store", default=None, help="store URL (default DOSI_STORE_URL)")
    au = audit.add_subparsers(dest="audit_command", required=True)
    au.add_parser("verify", help="check that no record was changed, deleted or reordered")
    al = au.add_parser("list", help="print records")
    al.add_argument("--after", type=int, default=0)
    al.add_argument("--limit", type=int, default=50)


def _scope_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--roles", required=True, help=f"comma-separated: {','.join(ROLES)}")
    p.add_argument("--tenants", default=None,
                   help="comma-separated tenants it is confined to (default: any)")
    p.add_argument("--label", default="", help="what it is for")
    p.add_argument("--expires", default=None, help="expiry, ISO 8601 UTC (default: never)")


def _split(raw: str | None) -> list[str] | None:
    return None if raw is None else [x.strip() for x in raw.split(",")]


async def _with_service(url: str, job: Callable[[Any], Awaitable[int]]) -> int:
    from dosi.security.service import SecurityService
    from dosi.settings import Settings
    from dosi.storage.base import open_store
    from dosi.storage.security_base import security_store_for

    settings = Settings(**({"store_url": url} if url else {}))
    store = await open_store(settings.store_url)
    try:
        sec = SecurityService(security_store_for(store), issuer=settings.auth_issuer,
                              audience=settings.auth_audience,
                              token_ttl=settings.auth_token_ttl,
                              leeway=settings.auth_clock_skew)
        await sec.start()
        return await job(sec)
    finally:
        await store.close()


def _print_creds(creds: list[Any]) -> None:
    for c in creds:
        state = "revoked" if c.revoked_at else f"expires {c.expires_at}" if c.expires_at \
            else "active"
        tenants = "any tenant" if c.tenants is None else ",".join(c.tenants) or "(default)"
        print(f"{c.id}\troles={','.join(c.roles)}\t{tenants}\t{state}\t{c.label}")


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "audit":
            return asyncio.run(_with_service(args.store, lambda s: _audit(s, args)))
        return asyncio.run(_with_service(args.store, lambda s: _auth(s, args)))
    except ValueError as exc:
        print(f"dosi: {exc}", file=sys.stderr)
        return 2
    except DosiError as exc:
        print(f"dosi: {exc.detail}", file=sys.stderr)
        return 1


async def _auth(sec: Any, args: argparse.Namespace) -> int:
    from dosi.ngsild.values import now_iso

    cmd, action = args.auth_command, getattr(args, "action", None)
    if cmd == "roles":
        for role in ROLES:
            print(role)
        return 0
    if cmd == "privacy-key":
        print(f"pseudonymisation key version {await sec.rotate_privacy_key()} created")
        return 0
    if cmd in ("client", "key") and action == "create":
        roles, tenants = _split(args.roles) or [], _split(args.tenants)
        if cmd == "client":
            cred, secret = await sec.create_client(roles, tenants, args.label, args.id,
                                                   args.expires)
            print(json.dumps({"client_id": cred.id, "client_secret": secret}))
        else:
            cred, key = await sec.create_api_key(roles, tenants, args.label, args.expires)
            print(json.dumps({"key_id": cred.id, "api_key": key}))
        return 0
    kind = "client" if cmd == "client" else "apikey"
    if cmd in ("client", "key") and action == "list":
        _print_creds(await sec.store.list_credentials(kind))
        return 0
    if cmd in ("client", "key") and action == "revoke":
        if not await sec.store.revoke_credential(kind, args.id, now_iso()):
            print(f"dosi: no active {cmd} {args.id}", file=sys.stderr)
            return 1
        print(f"revoked {cmd} {args.id}")
        return 0
    if cmd == "rule" and action == "add":
        rule = await sec.add_rule(Rule(
            role=args.role, operations=frozenset(_split(args.ops) or []), tenant=args.tenant,
            type=args.type, attribute=args.attribute, effect="deny" if args.deny else "allow"))
        print(json.dumps(rule.to_json()))
        return 0
    if cmd == "rule" and action == "list":
        for rule in await sec.store.list_rules():
            print(json.dumps(rule.to_json()))
        return 0
    if cmd == "rule" and action == "delete":
        if not await sec.store.delete_rule(args.id):
            print(f"dosi: no rule {args.id}", file=sys.stderr)
            return 1
        return 0
    if cmd == "token":
        if args.secret is not None:
            issued = await sec.client_credentials(args.client_id, args.secret)
        else:
            from dosi.security.issuer import usable

            cred = await sec.store.get_credential("client", args.client_id)
            if not usable(cred):
                print(f"dosi: no active client {args.client_id}", file=sys.stderr)
                return 1
            issued = await sec.builtin.issue(cred, args.ttl)
        print(issued["access_token"])
        return 0
    return 1


async def _audit(sec: Any, args: argparse.Namespace) -> int:
    from dosi.security.audit import verify

    if args.audit_command == "verify":
        report = await verify(sec.store)
        if report.ok:
            print(f"audit log intact: {report.checked} records, chain verified")
            return 0
        print(f"audit log BROKEN: {report.problem}", file=sys.stderr)
        return 1
    for row in await sec.store.read_audit(after=args.after, limit=args.limit):
        print(json.dumps({"seq": row.seq, "at": row.at, "subject": row.subject,
                          "action": row.action, "tenant": row.tenant, "target": row.target,
                          "detail": row.detail}))
    return 0


async def demo_token(settings: Any) -> str:
    """A token of the ``demo-admin`` client, made if missing (``dosi demo``)."""

    async def job(sec: Any) -> int:
        from dosi.security.issuer import usable

        cred = await sec.store.get_credential("client", "demo-admin")
        if not usable(cred):
            cred, _ = await sec.create_client(["system-admin"], None, "dosi demo",
                                              "demo-admin")
        issued = await sec.builtin.issue(cred, 86_400)
        out.append(issued["access_token"])
        return 0

    out: list[str] = []
    await _with_service(settings.store_url, job)
    return out[0]
