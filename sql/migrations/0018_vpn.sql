-- VPN connections (issue 14, docs/vpn.md): the projections of the
-- vpn_connection actor (vpn_connections) and of its lease actor (vpn_leases,
-- vpn_lease_history), written only by those actors' projections
-- (actors/vpn-connection/kind.ts, actors/vpn-lease/kind.ts); and the sealed
-- WireGuard configuration, written by control/vpn/service.ts and re-wrapped by
-- key rotation like every other secret.
create table vpn_connections (
  id               uuid        primary key,
  organization_id  uuid        not null,
  name             text        not null,
  state            text        not null check (state in ('enabled', 'disabled', 'deleted')),
  mode             text        not null check (mode = 'single_active'),
  target           jsonb       not null,
  allowed_nodes    jsonb       not null,
  routing          jsonb       not null,
  placement        jsonb       not null,
  bandwidth        jsonb       not null,
  secret_version   int         not null,
  disabled_reason  text,
  created_at       timestamptz not null,
  updated_at       timestamptz not null
);
create unique index vpn_connections_org_name on vpn_connections (organization_id, name) where state <> 'deleted';
create index vpn_connections_live on vpn_connections (organization_id, id) where state <> 'deleted';

create table vpn_connection_secrets (
  connection_id  uuid        primary key,
  key_id         text        not null,
  wrapped_key    text        not null,
  ciphertext     text        not null,
  rotated_at     timestamptz not null default now()
);
create index vpn_connection_secrets_key on vpn_connection_secrets (key_id);

create table vpn_leases (
  connection_id    uuid        primary key,
  organization_id  uuid        not null,
  state            text        not null,
  epoch            bigint      not null,
  owner_node_id    uuid,
  standby_node_id  uuid,
  ttl_ms           int         not null,
  granted_at       timestamptz,
  renewed_at       timestamptz,
  expires_at       timestamptz,
  fenced_reason    text,
  last_end_reason  text,
  failovers        int         not null,
  updated_at       timestamptz not null
);
create index vpn_leases_owner on vpn_leases (owner_node_id) where owner_node_id is not null;
create index vpn_leases_standby on vpn_leases (standby_node_id) where standby_node_id is not null;

-- Every lease fact in the shared history format (core/contracts/vpn.ts), in the lease's own sequence.
create table vpn_lease_history (
  connection_id  uuid        not null,
  seq            bigint      not null,
  kind           text        not null,
  node_id        uuid        not null,
  epoch          bigint      not null,
  at             timestamptz not null,
  expires_at     timestamptz,
  reason         text,
  primary key (connection_id, seq)
);
