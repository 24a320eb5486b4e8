"""The dataset catalog, custom data models and ingest API keys (``/dosi/v1/datasets``,
``/dosi/v1/models``, ``dosi datasets`` / ``dosi models``)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from dosi.errors import (
    AlreadyExistsError,
    BadRequestDataError,
    ResourceNotFoundError,
    UnauthorizedError,
)
from dosi.ingest.catalog import check_dataset, dcat_catalog, duration_seconds
from dosi.ingest.errors import MappingError
from dosi.ingest.models import check_custom, compile_custom, sdm_context, sdm_index
from dosi.ingest.pipeline import IngestPipeline
from dosi.ngsild.values import now_iso
from dosi.storage.base import RetentionRule, Store

Doc = dict[str, Any]


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class CatalogService:
    def __init__(self, store: Store, pipeline: IngestPipeline, contexts: Any) -> None:
        self.store = store
        self.pipeline = pipeline
        self.contexts = contexts

    # --- datasets ---

    async def _check_dataset(self, doc: Any) -> Doc:
        try:
            doc = check_dataset(doc)
        except MappingError as exc:
            raise BadRequestDataError(str(exc)) from None
        model = doc.get("dataModel")
        if model and model not in sdm_index() and not await self.store.get_ingest_doc(
                "model", model):
            raise BadRequestDataError(f"dataModel: no Smart Data Model or custom model {model!r}")
        for parent in doc.get("derivedFrom", []):
            if await self.store.get_ingest_doc("dataset", parent) is None:
                raise BadRequestDataError(f"derivedFrom: no dataset {parent!r}")
        return doc

    async def create_dataset(self, doc: Any) -> Doc:
        doc = await self._check_dataset(doc)
        now = now_iso()
        doc = {**doc, "createdAt": now, "modifiedAt": now}  # system members, not the client's
        if not await self.store.put_ingest_doc("dataset", doc["id"], doc, "create"):
            raise AlreadyExistsError(f"dataset {doc['id']} exists")
        self.pipeline.invalidate(doc["id"])
        return doc

    async def replace_dataset(self, ds_id: str, doc: Any) -> Doc:
        if isinstance(doc, dict):
            doc = {**doc, "id": doc.get("id", ds_id)}
            if doc["id"] != ds_id:
                raise BadRequestDataError("the id in the body differs from the one in the path")
        doc = await self._check_dataset(doc)
        before = await self.store.get_ingest_doc("dataset", ds_id)
        if before is None:
            raise ResourceNotFoundError(f"no dataset {ds_id}")
        doc = {**doc, "createdAt": before.get("createdAt", now_iso()), "modifiedAt": now_iso()}
        if not await self.store.put_ingest_doc("dataset", ds_id, doc, "replace"):
            raise ResourceNotFoundError(f"no dataset {ds_id}")
        self.pipeline.invalidate(ds_id)
        return doc

    async def get_dataset(self, ds_id: str) -> Doc:
        doc = await self.store.get_ingest_doc("dataset", ds_id)
        if doc is None:
            raise ResourceNotFoundError(f"no dataset {ds_id}")
        return doc

    async def list_datasets(self) -> list[Doc]:
        return await self.store.list_ingest_docs("dataset")

    async def delete_dataset(self, ds_id: str) -> None:
        users = [d["id"] for d in await self.list_datasets() if ds_id in d.get("derivedFrom", [])]
        if users:
            raise BadRequestDataError(f"datasets {users} are derived from {ds_id}")
        if not await self.store.delete_ingest_doc("dataset", ds_id):
            raise ResourceNotFoundError(f"no dataset {ds_id}")
        for key in await self.list_keys(ds_id):
            await self.delete_key(ds_id, key["keyId"])
        for ck in await self.store.list_ingest_docs("checkpoint"):  # file imports start over
            if ck.get("dataset") == ds_id:
                await self.store.delete_ingest_doc("checkpoint", ck["id"])
        self.pipeline.invalidate(ds_id)

    async def catalog(self, base_url: str) -> Doc:
        datasets = await self.list_datasets()
        type_iris: dict[str, str] = {}
        for d in datasets:
            model = d.get("dataModel")
            if model and model not in type_iris:
                type_iris[model] = await self._type_iri(model, d.get("context"))
        return dcat_catalog(datasets, base_url, type_iris)

    async def _type_iri(self, model: str, ctx: Any) -> str:
        if not ctx:
            ctx = sdm_context(model)
            custom = await self.store.get_ingest_doc("model", model)
            if custom:
                ctx = custom.get("context")
        try:
            return (await self.contexts.resolve(ctx)).expand(model)
        except Exception:  # noqa: BLE001 - the short name still identifies the model
            return model

    async def retention_rules(self) -> list[RetentionRule]:
        """The ``retention`` of datasets as history retention rules for their entity
        type in their tenant (the history upkeep task reads them at each run). The rule
        covers every entity of that type in the tenant, whichever way it came in."""
        rules = []
        for d in await self.list_datasets():
            if d.get("retention") and d.get("dataModel"):
                keep_ms = int(duration_seconds(d["retention"]) * 1000)
                type_iri = await self._type_iri(d["dataModel"], d.get("context"))
                rules.append(RetentionRule(keep_ms, d.get("tenant") or "", type_iri))
        return rules

    # --- custom models ---

    async def create_model(self, doc: Any) -> Doc:
        doc = self._check_model(doc)
        if not await self.store.put_ingest_doc("model", doc["name"], doc, "create"):
            raise AlreadyExistsError(f"model {doc['name']} exists")
        self.pipeline.invalidate()
        return doc

    async def replace_model(self, name: str, doc: Any) -> Doc:
        if isinstance(doc, dict):
            doc = {**doc, "name": doc.get("name", name)}
            if doc["name"] != name:
                raise BadRequestDataError("the name in the body differs from the one in the path")
        doc = self._check_model(doc)
        if not await self.store.put_ingest_doc("model", name, doc, "replace"):
            raise ResourceNotFoundError(f"no model {name}")
        self.pipeline.invalidate()
        return doc

    def _check_model(self, doc: Any) -> Doc:
        try:
            return check_custom(doc)
        except MappingError as exc:
            raise BadRequestDataError(str(exc)) from None

    async def get_model(self, name: str) -> Doc:
        doc = await self.store.get_ingest_doc("model", name)
        if doc is None:
            raise ResourceNotFoundError(f"no custom model {name}")
        return doc

    async def model_schema(self, name: str) -> Doc:
        return compile_custom(await self.get_model(name))

    async def list_models(self) -> list[Doc]:
        return await self.store.list_ingest_docs("model")

    async def delete_model(self, name: str) -> None:
        users = [d["id"] for d in await self.list_datasets() if d.get("dataModel") == name]
        if users:
            raise BadRequestDataError(f"model {name} is the data model of datasets {users}")
        if not await self.store.delete_ingest_doc("model", name):
            raise ResourceNotFoundError(f"no custom model {name}")
        self.pipeline.invalidate()

    # --- API keys of the HTTP push adapter ---

    async def create_key(self, ds_id: str, source: str) -> Doc:
        """A new key for one source of a dataset; the secret is shown only here."""
        await self.get_dataset(ds_id)
        if not isinstance(source, str) or not source.strip():
            raise BadRequestDataError("source: the name of the pushing system")
        secret = "dosi_" + secrets.token_urlsafe(24)
        digest = key_hash(secret)
        doc = {"keyId": digest[:12], "dataset": ds_id, "source": source.strip(),
               "createdAt": now_iso()}
        await self.store.put_ingest_doc("apikey", digest, {**doc, "digest": digest}, "create")
        return {**doc, "key": secret}

    async def list_keys(self, ds_id: str) -> list[Doc]:
        return [{k: v for k, v in d.items() if k != "digest"}
                for d in await self.store.list_ingest_docs("apikey") if d["dataset"] == ds_id]

    async def delete_key(self, ds_id: str, key_id: str) -> None:
        for d in await self.store.list_ingest_docs("apikey"):
            if d["dataset"] == ds_id and d["keyId"] == key_id:
                await self.store.delete_ingest_doc("apikey", d["digest"])
                return
        raise ResourceNotFoundError(f"no key {key_id} for dataset {ds_id}")

    async def authenticate(self, ds_id: str, secret: str | None) -> str:
        """The source name of a valid key for the dataset (UnauthorizedError otherwise)."""
        if not secret:
            raise UnauthorizedError("an API key is required (X-API-Key or Authorization: Bearer)")
        doc = await self.store.get_ingest_doc("apikey", key_hash(secret))
        if doc is None or doc["dataset"] != ds_id:
            raise UnauthorizedError("this API key is not valid for this dataset")
        return str(doc["source"])
