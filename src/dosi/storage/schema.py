"""DDL of both backends side by side, so that they stay the same shape.

Why the side tables exist and how queries use them: ``dosi.storage.sql``. Every table
carries the tenant; side tables point at ``entity.rid`` (an integer: compact, fast
joins) and are rewritten by the store whenever an entity's indexed facts change. No
foreign keys: the store deletes side rows itself, in bulk, in the same transaction.
``attr_stats`` holds discovery counters as signed deltas (``dosi.storage.delta``).
"""

from __future__ import annotations

SCHEMA_VERSION = "1"  # bump with a migration whenever rows.py indexes other facts

SQLITE = """
CREATE TABLE IF NOT EXISTS dosi_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tenant (name TEXT PRIMARY KEY, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entity (
  rid INTEGER PRIMARY KEY,
  tenant TEXT NOT NULL,
  id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  modified_at TEXT NOT NULL,
  doc TEXT NOT NULL,
  UNIQUE (tenant, id)
);
CREATE INDEX IF NOT EXISTS entity_order ON entity (tenant, created_at, id);
CREATE TABLE IF NOT EXISTS entity_type (
  tenant TEXT NOT NULL, type TEXT NOT NULL, rid INTEGER NOT NULL,
  PRIMARY KEY (tenant, type, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_type_rid ON entity_type (rid);
CREATE TABLE IF NOT EXISTS entity_attr (
  tenant TEXT NOT NULL, attr TEXT NOT NULL, rid INTEGER NOT NULL,
  kinds TEXT NOT NULL, n INTEGER NOT NULL, num REAL, txt TEXT, flags INTEGER NOT NULL,
  PRIMARY KEY (tenant, attr, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_attr_rid ON entity_attr (rid);
CREATE INDEX IF NOT EXISTS entity_attr_num ON entity_attr (tenant, attr, num)
  WHERE num IS NOT NULL;
CREATE INDEX IF NOT EXISTS entity_attr_txt ON entity_attr (tenant, attr, txt)
  WHERE txt IS NOT NULL;
CREATE INDEX IF NOT EXISTS entity_attr_flags ON entity_attr (tenant, attr, flags)
  WHERE flags <> 0;
CREATE TABLE IF NOT EXISTS entity_scope (
  tenant TEXT NOT NULL, scope TEXT NOT NULL, rid INTEGER NOT NULL,
  PRIMARY KEY (tenant, scope, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_scope_rid ON entity_scope (rid);
CREATE TABLE IF NOT EXISTS entity_geo (
  gid INTEGER PRIMARY KEY,
  tenant TEXT NOT NULL, attr TEXT NOT NULL, dataset TEXT NOT NULL, rid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entity_geo_rid ON entity_geo (rid);
CREATE VIRTUAL TABLE IF NOT EXISTS geo_rtree USING rtree (id, minx, maxx, miny, maxy);
CREATE TABLE IF NOT EXISTS attr_stats (
  tenant TEXT NOT NULL, type TEXT NOT NULL, attr TEXT NOT NULL, kinds TEXT NOT NULL,
  entities INTEGER NOT NULL, instances INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS attr_stats_key ON attr_stats (tenant, type, attr, kinds);
CREATE TABLE IF NOT EXISTS context (
  id TEXT PRIMARY KEY, url TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, body TEXT NOT NULL,
  created_at TEXT NOT NULL, last_used_at TEXT, hits INTEGER NOT NULL DEFAULT 0
);
"""

POSTGRES = """
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE IF NOT EXISTS dosi_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS tenant (name text PRIMARY KEY, created_at text NOT NULL);
CREATE TABLE IF NOT EXISTS entity (
  rid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant text NOT NULL,
  id text NOT NULL COLLATE "C",
  types text[] NOT NULL,
  created_at text NOT NULL COLLATE "C",
  modified_at text NOT NULL COLLATE "C",
  doc jsonb NOT NULL,
  UNIQUE (tenant, id)
);
CREATE INDEX IF NOT EXISTS entity_order ON entity (tenant, created_at, id);
CREATE INDEX IF NOT EXISTS entity_types ON entity USING gin (types);
CREATE TABLE IF NOT EXISTS entity_attr (
  tenant text NOT NULL, attr text NOT NULL, rid bigint NOT NULL,
  kinds text NOT NULL, n integer NOT NULL, num double precision, txt text COLLATE "C",
  flags smallint NOT NULL,
  PRIMARY KEY (tenant, attr, rid)
);
CREATE INDEX IF NOT EXISTS entity_attr_rid ON entity_attr (rid);
CREATE INDEX IF NOT EXISTS entity_attr_num ON entity_attr (tenant, attr, num, rid)
  WHERE num IS NOT NULL;
CREATE INDEX IF NOT EXISTS entity_attr_txt ON entity_attr (tenant, attr, txt, rid)
  WHERE txt IS NOT NULL;
CREATE INDEX IF NOT EXISTS entity_attr_flags ON entity_attr (tenant, attr, flags)
  WHERE flags <> 0;
-- attribute and value are correlated: without these the planner misjudges q selectivity
CREATE STATISTICS IF NOT EXISTS entity_attr_attr_num (mcv) ON attr, num FROM entity_attr;
CREATE STATISTICS IF NOT EXISTS entity_attr_attr_txt (mcv) ON attr, txt FROM entity_attr;
CREATE TABLE IF NOT EXISTS entity_scope (
  tenant text NOT NULL, scope text NOT NULL COLLATE "C", rid bigint NOT NULL,
  PRIMARY KEY (tenant, scope, rid)
);
CREATE INDEX IF NOT EXISTS entity_scope_rid ON entity_scope (rid);
CREATE TABLE IF NOT EXISTS entity_geo (
  tenant text NOT NULL, attr text NOT NULL, dataset text NOT NULL, rid bigint NOT NULL,
  geom geometry(Geometry, 4326) NOT NULL
);
CREATE INDEX IF NOT EXISTS entity_geo_rid ON entity_geo (rid);
CREATE INDEX IF NOT EXISTS entity_geo_geom ON entity_geo USING gist (geom);
CREATE INDEX IF NOT EXISTS entity_geo_geog ON entity_geo USING gist ((geom::geography));
CREATE TABLE IF NOT EXISTS attr_stats (
  tenant text NOT NULL, type text NOT NULL, attr text NOT NULL, kinds text NOT NULL,
  entities bigint NOT NULL, instances bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS attr_stats_key ON attr_stats (tenant, type, attr, kinds);
CREATE TABLE IF NOT EXISTS context (
  id text PRIMARY KEY, url text NOT NULL UNIQUE, kind text NOT NULL, body jsonb NOT NULL,
  created_at text NOT NULL, last_used_at text, hits bigint NOT NULL DEFAULT 0
);
"""
