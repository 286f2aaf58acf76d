-- Index maintenance alone: the mirror's index set before migration 0016 (rc_a) and after it (rc_b), on tables
-- shaped like `remote_contacts`, 100,000 rows each, in temporary tables of the session (nothing is left behind).
-- Run against any PostgreSQL database (figures in BENCHMARKS.md, "Fewer indexes for a sync's writes to keep"):
--   psql "$DATABASE_URL" -f benchmarks/index_maintenance.sql
\timing on
create temporary table rc_a (id serial primary key, tenant_id varchar(64) not null, connection_id int not null,
  remote_id varchar(255) not null, data jsonb, content_hash varchar(64), needs_reconcile bool not null,
  last_seen_at timestamptz, unique (connection_id, remote_id));
create index on rc_a (tenant_id);
create index on rc_a (connection_id);
create index on rc_a (needs_reconcile);
create temporary table rc_b (like rc_a including defaults);
alter table rc_b add primary key (id);
alter table rc_b add unique (connection_id, remote_id);
create index on rc_b (tenant_id);
create index on rc_b (connection_id) where needs_reconcile is true;
\echo insert, old index set
insert into rc_a (tenant_id, connection_id, remote_id, data, content_hash, needs_reconcile, last_seen_at)
  select 'tenant-' || (g % 20), g % 20, md5(g::text), jsonb_build_object('name', md5(g::text), 'email', g || '@x.de'),
    md5(g::text), true, now() from generate_series(1, 100000) g;
\echo insert, new index set
insert into rc_b (id, tenant_id, connection_id, remote_id, data, content_hash, needs_reconcile, last_seen_at)
  select g, 'tenant-' || (g % 20), g % 20, md5(g::text), jsonb_build_object('name', md5(g::text), 'email', g || '@x.de'),
    md5(g::text), true, now() from generate_series(1, 100000) g;
\echo clear needs_reconcile, old index set
update rc_a set needs_reconcile = false;
\echo clear needs_reconcile, new index set
update rc_b set needs_reconcile = false;
\echo touch last_seen_at, old index set
update rc_a set last_seen_at = now();
\echo touch last_seen_at, new index set
update rc_b set last_seen_at = now();
