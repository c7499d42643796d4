-- What nodes observe of each other: the latest reachability (and quality) of
-- each directed pair. The control plane turns it into relay paths in the
-- nodes' signed snapshots; organizations never see it.
create table mesh_link_observations (
  from_node    uuid        not null,
  to_node      uuid        not null,
  cluster_id   uuid        not null,
  reachable    boolean     not null,
  latency_ms   real,
  loss         real        not null default 0,
  observed_at  timestamptz not null,
  primary key (from_node, to_node)
) with (fillfactor = 80);
create index mesh_link_observations_cluster on mesh_link_observations (cluster_id);
