"""Ingestion: raw records from adapters become standard NGSI-LD entities.

``records`` (what flows), ``errors`` (a bad record), ``mapping`` (declarative mappings
compiled into mappers), ``models`` (JSON Schema validation against the Smart Data Models
and custom models), ``pipeline`` (the one entry point every adapter calls), ``quality``,
``dcat`` (the catalog as DCAT-AP), ``crs`` (Korean coordinates to WGS84). Adapters live
in ``dosi.ingest.adapters.<name>``. See docs/ingest.md.
"""
