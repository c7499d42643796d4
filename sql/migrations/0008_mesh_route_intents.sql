-- Route intents: a platform admin's standing decision that traffic from one
-- node to another goes through given relays (egress, inspection, cost). Path
-- decisions honour an intent whenever its hops are reachable.
create table mesh_route_intents (
  id          uuid        primary key,
  cluster_id  uuid        not null,
  from_node   uuid        not null,
  to_node     uuid        not null,
  via         uuid[]      not null,
  reason      text        not null,
  created_by  uuid,
  created_at  timestamptz not null,
  unique (from_node, to_node)
);
create index mesh_route_intents_cluster on mesh_route_intents (cluster_id);
