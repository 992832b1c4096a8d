-- service_endpoints: one row per container a host runs in a namespace.
-- Compatible with the existing coold schema (container_id primary key and
-- the eight original columns), plus service_id and ports for the
-- service-endpoint verbs. Corrosion's schema files allow only CREATE TABLE
-- and CREATE INDEX, a non-null primary key, no unique index, and a default
-- on every NOT NULL column; this file keeps to that so the same text loads
-- into the embedded SQLite store and into a Corrosion agent's schema dir.
CREATE TABLE IF NOT EXISTS service_endpoints (
    container_id   TEXT NOT NULL PRIMARY KEY,
    container_name TEXT NOT NULL DEFAULT '',
    namespace      TEXT NOT NULL DEFAULT 'default',
    host_mgmt_ip   TEXT NOT NULL DEFAULT '',
    container_ip   TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL DEFAULT 'unknown',
    health         TEXT NOT NULL DEFAULT 'unknown',
    updated_at     INTEGER NOT NULL DEFAULT 0,
    service_id     TEXT NOT NULL DEFAULT '',
    ports          TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS service_endpoints_host ON service_endpoints (host_mgmt_ip);
CREATE INDEX IF NOT EXISTS service_endpoints_service ON service_endpoints (service_id);
CREATE INDEX IF NOT EXISTS service_endpoints_dns ON service_endpoints (namespace, container_name);
