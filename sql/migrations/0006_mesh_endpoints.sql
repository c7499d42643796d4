-- Where each node's mesh endpoint (QUIC) listens, as the node advertises it.
-- Peers find each other through their signed snapshots; organizations never
-- see it.
create table mesh_endpoints (
  node_id     uuid        primary key,
  cluster_id  uuid        not null,
  address     text        not null,
  updated_at  timestamptz not null
);
create index mesh_endpoints_cluster on mesh_endpoints (cluster_id);
