"""The ``dosi`` command: ``serve`` runs the hub, ``demo`` runs it with a living demo district,
``export`` writes history to Parquet or CSV (``dosi.cli_export``); ``models``,
``datasets``, ``ingest`` and ``import`` manage data models, the dataset catalog, dead
letters and file imports (``dosi.cli_models``, ``cli_datasets``, ``cli_ingest``,
``cli_import``); ``drt`` plans dial-a-ride days (``dosi.cli_drt``)."""

from __future__ import annotations

import argparse
import logging
import sys

from dosi import __version__


def _serve(args: argparse.Namespace, demo: bool) -> int:
    import uvicorn
    from pydantic import ValidationError

    from dosi.api.app import create_app
    from dosi.settings import Settings

    overrides = {"host": args.host, "port": args.port, "store_url": args.store}
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for err in exc.errors():
            print(f"dosi: {err['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    from dosi.ingest.adapters import adapter_problems

    problems = adapter_problems(settings.ingest_adapters)
    for problem in problems:
        print(f"dosi: {problem}", file=sys.stderr)
    if problems:
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    if demo:
        return _demo(args, settings)
    print(f"dosi {__version__}: NGSI-LD API at http://{settings.host}:{settings.port}/ngsi-ld/v1 "
          f"(docs at /docs), store {settings.store_url.split('@')[-1]}", flush=True)
    if settings.auth:
        _auth_hint(settings, demo=False)
    else:
        print("dosi: authentication is OFF (DOSI_AUTH=false): anyone who can reach this "
              "port may read and change everything", flush=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
    )
    return 0


def _demo(args: argparse.Namespace, settings) -> int:
    import asyncio

    from dosi.demo.faults import NO_FAULTS
    from dosi.demo.runner import DemoOptions, run

    if args.store is None:
        settings.store_url = "sqlite:///dosi-demo.db"
    if settings.auth:
        _auth_hint(settings, demo=True)
    options = DemoOptions(backfill_hours=args.backfill_hours, tick_s=args.tick)
    if args.no_faults:
        options.faults = NO_FAULTS
    try:
        asyncio.run(run(settings, options))
    except KeyboardInterrupt:
        print("dosi demo: stopped", file=sys.stderr)
    except (OSError, RuntimeError) as exc:
        print(f"dosi demo: {exc}", file=sys.stderr)
        return 1
    return 0


def _auth_hint(settings: object, demo: bool) -> None:
    """``dosi demo`` prints a ready token; ``dosi serve`` says how to get one."""
    if not demo:
        print("dosi: authentication is on. Create a client and get a token with\n"
              "  dosi auth client create --roles system-admin\n"
              "  dosi auth token CLIENT_ID\n"
              "then send 'Authorization: Bearer TOKEN' (docs/security.md)", flush=True)
        return
    import asyncio

    from dosi.cli_auth import demo_token

    token = asyncio.run(demo_token(settings))
    print("dosi demo: a ready token for the demo-admin client (system-admin, 24 h):\n"
          f"  export TOKEN={token}\n"
          "  curl -H \"Authorization: Bearer $TOKEN\" "
          f"http://{settings.host}:{settings.port}/ngsi-ld/v1/types", flush=True)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dosi", description="dosi (도시): the smart-city data hub")
    parser.add_argument("--version", action="version", version=f"dosi {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("serve", "run the NGSI-LD hub"),
        ("demo", "run the hub on SQLite with a living demo district (Seoul Jung-gu)"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--host", default=None, help="address to listen on (127.0.0.1)")
        p.add_argument("--port", type=int, default=None, help="port (1026)")
        p.add_argument("--store", default=None,
                       help="sqlite:///path.db (default sqlite:///dosi.db; demo: dosi-demo.db) "
                       "or postgresql://...")
        if name == "demo":
            p.add_argument("--backfill-hours", type=float, default=6.0,
                           help="hours of past device readings to publish at start (6)")
            p.add_argument("--tick", type=int, default=10, help="seconds between device readings (10)")
            p.add_argument("--no-faults", action="store_true", help="devices never misbehave")
    from dosi import cli_auth, cli_datasets, cli_drt, cli_export, cli_import, cli_ingest, cli_models

    groups = {"export": cli_export, "models": cli_models, "datasets": cli_datasets,
              "ingest": cli_ingest, "import": cli_import, "drt": cli_drt}
    for module in groups.values():
        module.add_parser(sub)
    cli_auth.add_parsers(sub)
    args = parser.parse_args(argv)
    if args.command in groups:
        return groups[args.command].run(args)  # type: ignore[no-any-return]
    if args.command in ("auth", "audit"):
        return cli_auth.run(args)
    if args.command in ("serve", "demo"):
        try:
            return _serve(args, demo=args.command == "demo")
        except ValueError as exc:
            print(f"dosi: {exc}", file=sys.stderr)
            return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
