"""Discovery use-cases: which entity types and attributes a tenant holds."""

from __future__ import annotations

from dosi.errors import ResourceNotFoundError
from dosi.storage.base import AttributeInfo, Store, TypeInfo


class DiscoveryService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def types(self, tenant: str) -> list[TypeInfo]:
        """GET /types."""
        return sorted(await self.store.types(tenant), key=lambda t: t.type)

    async def type_info(self, tenant: str, type_iri: str) -> TypeInfo:
        """GET /types/{type}."""
        for info in await self.store.types(tenant):
            if info.type == type_iri:
                return info
        raise ResourceNotFoundError(f"no entity of type {type_iri}")

    async def attributes(self, tenant: str) -> list[AttributeInfo]:
        """GET /attributes."""
        return sorted(await self.store.attributes(tenant), key=lambda a: a.attribute)

    async def attribute_info(self, tenant: str, attr_iri: str) -> AttributeInfo:
        """GET /attributes/{attrId}."""
        for info in await self.store.attributes(tenant):
            if info.attribute == attr_iri:
                return info
        raise ResourceNotFoundError(f"no attribute {attr_iri}")
