"""Use-cases: take a store, return domain objects; no HTTP, no SQL."""
