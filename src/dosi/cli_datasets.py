"""``dosi datasets``: the dataset catalog (``/dosi/v1/datasets``) straight on the store.

    dosi datasets list | get ID | delete ID | catalog [--base-url URL]
    dosi datasets create FILE.yaml|json | replace ID FILE
    dosi datasets key-create ID --source NAME | keys ID | key-delete ID KEY_ID
"""

from __future__ import annotations

import argparse
from typing import Any

from dosi.cli_ingest import add_store_arg, print_json, read_doc, run_async, services


def add_parser(sub: Any) -> None:
    p = sub.add_parser("datasets", help="the dataset catalog and push API keys")
    cmds = p.add_subparsers(dest="datasets_command", required=True)
    for name, args, helptext in (
        ("list", [], "list datasets"), ("get", ["id"], "show a dataset"),
        ("delete", ["id"], "delete a dataset with its dead letters and keys"),
        ("create", ["file"], "create a dataset from a JSON/YAML file"),
        ("replace", ["id", "file"], "replace a dataset"),
        ("keys", ["id"], "list the push API keys of a dataset"),
        ("key-create", ["id"], "create a push API key (printed once)"),
        ("key-delete", ["id", "key_id"], "revoke a push API key"),
        ("catalog", [], "print the catalog as DCAT-AP JSON-LD"),
    ):
        c = cmds.add_parser(name, help=helptext)
        for a in args:
            c.add_argument(a)
        if name == "key-create":
            c.add_argument("--source", required=True, help="name of the pushing system")
        if name == "catalog":
            c.add_argument("--base-url", default="http://127.0.0.1:1026")
        add_store_arg(c)


def run(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with services(args.store) as s:
            cmd, cat = args.datasets_command, s.catalog
            if cmd == "list":
                for d in await cat.list_datasets():
                    print(f"{d['id']}\t{d['title']}\t{d.get('dataModel', '-')}\t"
                          f"{d.get('validation', 'reject')}")
            elif cmd == "get":
                print_json(await cat.get_dataset(args.id))
            elif cmd == "create":
                doc = await cat.create_dataset(read_doc(args.file))
                print(f"created dataset {doc['id']}")
            elif cmd == "replace":
                await cat.replace_dataset(args.id, read_doc(args.file))
                print(f"replaced dataset {args.id}")
            elif cmd == "delete":
                await cat.delete_dataset(args.id)
                print(f"deleted dataset {args.id}")
            elif cmd == "keys":
                await cat.get_dataset(args.id)
                for k in await cat.list_keys(args.id):
                    print(f"{k['keyId']}\t{k['source']}\t{k['createdAt']}")
            elif cmd == "key-create":
                k = await cat.create_key(args.id, args.source)
                print(f"key {k['keyId']} for {args.source} (shown once, keep it):\n{k['key']}")
            elif cmd == "key-delete":
                await cat.delete_key(args.id, args.key_id)
                print(f"revoked key {args.key_id}")
            elif cmd == "catalog":
                print_json(await cat.catalog(args.base_url))
        return 0

    return run_async(main)
