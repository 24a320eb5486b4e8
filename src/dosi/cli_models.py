"""``dosi models``: custom data models (``/dosi/v1/models``) straight on the store.

    dosi models list [--bundled]
    dosi models create FILE.yaml|json     (FILE "-" reads standard input)
    dosi models get NAME | schema NAME | replace NAME FILE | delete NAME
"""

from __future__ import annotations

import argparse
from typing import Any

from dosi.cli_ingest import add_store_arg, print_json, read_doc, run_async, services


def add_parser(sub: Any) -> None:
    p = sub.add_parser("models", help="custom data models (and the bundled Smart Data Models)")
    cmds = p.add_subparsers(dest="models_command", required=True)
    c = cmds.add_parser("list", help="list custom models")
    c.add_argument("--bundled", action="store_true", help="also the bundled Smart Data Models")
    add_store_arg(c)
    for name, args in (("get", ["name"]), ("schema", ["name"]), ("delete", ["name"]),
                       ("create", ["file"]), ("replace", ["name", "file"])):
        c = cmds.add_parser(name, help=f"{name} a custom model")
        for a in args:
            c.add_argument(a)
        add_store_arg(c)


def run(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with services(args.store) as s:
            cmd, cat = args.models_command, s.catalog
            if cmd == "list":
                from dosi.ingest.models import sdm_index

                for m in await cat.list_models():
                    print(f"{m['name']}\t(custom, {len(m['attributes'])} attributes)")
                if args.bundled:
                    for t, (subject, _) in sorted(sdm_index().items()):
                        print(f"{t}\t(Smart Data Models, {subject})")
            elif cmd == "get":
                print_json(await cat.get_model(args.name))
            elif cmd == "schema":
                print_json(await cat.model_schema(args.name))
            elif cmd == "create":
                doc = await cat.create_model(read_doc(args.file))
                print(f"created model {doc['name']}")
            elif cmd == "replace":
                await cat.replace_model(args.name, read_doc(args.file))
                print(f"replaced model {args.name}")
            elif cmd == "delete":
                await cat.delete_model(args.name)
                print(f"deleted model {args.name}")
        return 0

    return run_async(main)
