"""The HTTP push adapter: external platforms POST to ``/dosi/v1/ingest/{dataset}``.

The route is ``dosi.api.ingest``; the use-case (API key, splitting a body into records,
idempotency keys ``push:<source>:<Idempotency-Key>[#i]``) is ``dosi.services.ingest``.
This folder holds its manifest, like every adapter's.
"""
