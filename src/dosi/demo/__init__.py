"""The living demo city: a real district, simulated sources, real ingest paths."""
