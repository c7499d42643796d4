-- Cluster projection, written by the cluster actor in the same transaction as
-- its snapshot. Never written by HTTP handlers directly.
create table clusters (
  id          uuid        primary key,
  name        text        not null,
  slug        text        not null,
  status      text        not null,
  region      text,
  metadata    jsonb       not null default '{}'::jsonb,
  archive_due_at timestamptz,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  constraint clusters_slug_key unique (slug)
);
create index clusters_status on clusters (status);
