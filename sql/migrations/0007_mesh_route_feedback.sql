-- Route-health feedback: a node whose pings over a signed relay path go
-- unanswered marks the relays of that path stale for that destination; path
-- decisions avoid them until `stale_until`.
create table mesh_route_feedback (
  from_node    uuid        not null,
  to_node      uuid        not null,
  relay        uuid        not null,
  cluster_id   uuid        not null,
  stale_until  timestamptz not null,
  primary key (from_node, to_node, relay)
);
create index mesh_route_feedback_cluster on mesh_route_feedback (cluster_id);
