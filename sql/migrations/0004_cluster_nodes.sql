-- Clusters, cluster authority, node enrollment, node identity, roles,
-- heartbeats and signed scoped snapshots.

alter table clusters add column partition_state text not null default 'normal' check (partition_state in ('normal', 'minority'));
alter table clusters add column authority_term int not null default 1;

-- One per cluster: the Ed25519 signing key and the node CA (ECDSA P-256).
-- Private keys are sealed with the secret keyring; only fingerprints and
-- public material are ever shown.
create table cluster_authorities (
  cluster_id              uuid        primary key,
  signing_public_key      text        not null,
  signing_fingerprint     text        not null,
  signing_key_id          text        not null,
  signing_wrapped_key     text        not null,
  signing_ciphertext      text        not null,
  ca_certificate_pem      text        not null,
  ca_fingerprint          text        not null,
  ca_key_id               text        not null,
  ca_wrapped_key          text        not null,
  ca_ciphertext           text        not null,
  next_serial             bigint      not null default 2,
  created_at              timestamptz not null default now()
);

create table node_join_tokens (
  id                  uuid        primary key,
  cluster_id          uuid        not null,
  prefix              text        not null unique,
  secret_hash         text        not null,
  requested_roles     jsonb       not null default '[]'::jsonb,
  scope_jws           text        not null,
  expires_at          timestamptz not null,
  max_uses            int         not null check (max_uses between 1 and 1000),
  used_count          int         not null default 0,
  created_by_user_id  text        not null,
  created_at          timestamptz not null default now(),
  revoked_at          timestamptz,
  check (used_count <= max_uses)
);
create index node_join_tokens_cluster on node_join_tokens (cluster_id, created_at);

-- Projection of the join_request actor.
create table node_join_requests (
  id                    uuid        primary key,
  cluster_id            uuid        not null,
  token_id              uuid        not null,
  node_name             text        not null,
  node_fingerprint      text        not null,
  public_key            text        not null,
  reported_facts        jsonb       not null,
  reported_capabilities jsonb       not null,
  requested_roles       jsonb       not null,
  status                text        not null,
  reviewed_by_user_id   text,
  reviewed_at           timestamptz,
  approved_node_id      uuid,
  rejection_reason      text,
  source_ip             text,
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now()
);
create index node_join_requests_cluster on node_join_requests (cluster_id, status, id);

-- Signed bootstrap bundles, handed out only after proof of key possession.
create table node_bootstrap_bundles (
  join_request_id  uuid        primary key,
  bundle_jws       text        not null,
  created_at       timestamptz not null default now()
);

create table node_groups (
  id          uuid        primary key,
  cluster_id  uuid        not null,
  parent_id   uuid        references node_groups (id),
  name        text        not null,
  created_at  timestamptz not null default now()
);
-- Names are unique among siblings; root groups (no parent) are siblings too.
create unique index node_groups_sibling_name on node_groups (cluster_id, coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), name);

-- Projection of the node actor. A node belongs to exactly one cluster: a host
-- in two clusters is two nodes with two keys and two certificates.
create table nodes (
  id            uuid        primary key,
  cluster_id    uuid        not null,
  name          text        not null,
  status        text        not null,
  health        text        not null default 'healthy',
  group_id      uuid        references node_groups (id),
  capabilities  jsonb       not null default '{}'::jsonb,
  facts         jsonb       not null default '{}'::jsonb,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
create index nodes_cluster on nodes (cluster_id, id);

create table cluster_memberships (
  cluster_id         uuid        not null,
  node_id            uuid        not null,
  membership_status  text        not null,
  joined_at          timestamptz not null default now(),
  last_seen_at       timestamptz,
  metadata           jsonb       not null default '{}'::jsonb,
  primary key (cluster_id, node_id)
);

create table node_identities (
  cluster_id              uuid        not null,
  certificate_serial      text        not null,
  node_id                 uuid        not null,
  public_key              text        not null,
  fingerprint             text        not null,
  certificate_pem         text        not null,
  certificate_not_before  timestamptz not null,
  certificate_not_after   timestamptz not null,
  identity_status         text        not null check (identity_status in ('active', 'rotated', 'revoked')),
  rotated_at              timestamptz,
  revoked_at              timestamptz,
  created_at              timestamptz not null default now(),
  -- Serials are unique per issuing CA, and every cluster has its own CA.
  primary key (cluster_id, certificate_serial)
);
create index node_identities_node on node_identities (node_id);
create index node_identities_fingerprint on node_identities (fingerprint);
-- A key identifies one node in one cluster, ever.
create unique index node_identities_one_node_per_key on node_identities (fingerprint, node_id);

create table cluster_revocation_lists (
  cluster_id  uuid        not null,
  version     int         not null,
  list_jws    text        not null,
  created_at  timestamptz not null default now(),
  primary key (cluster_id, version)
);

create table node_role_assignments (
  id                   uuid        primary key,
  cluster_id           uuid        not null,
  node_id              uuid        not null,
  role                 text        not null,
  organization_id      uuid,
  status               text        not null check (status in ('active', 'removed')),
  assigned_by_user_id  text        not null,
  assigned_at          timestamptz not null default now(),
  removed_at           timestamptz,
  policy               jsonb       not null default '{}'::jsonb
);
create unique index node_role_assignments_active on node_role_assignments (node_id, role, coalesce(organization_id, '00000000-0000-0000-0000-000000000000'::uuid)) where status = 'active';

create table node_service_instances (
  id                   uuid        primary key,
  cluster_id           uuid        not null,
  node_id              uuid        not null,
  service_type         text        not null,
  desired_state        text        not null check (desired_state in ('running', 'stopped')),
  reported_state       text        not null default 'unknown',
  version              text,
  last_heartbeat_at    timestamptz,
  metadata             jsonb       not null default '{}'::jsonb,
  updated_at           timestamptz not null default now(),
  unique (node_id, service_type)
);

-- Latest heartbeat per node: the hottest write in the control plane. Narrow,
-- no secondary indexes, fillfactor for HOT updates in place.
create table node_heartbeats_latest (
  node_id       uuid        primary key,
  cluster_id    uuid        not null,
  received_at   timestamptz not null,
  seq           bigint      not null,
  agent_version text,
  telemetry     jsonb       not null
) with (fillfactor = 70);

-- Bounded history: one row per node per 5-minute slot of a 2-hour ring, overwritten in place.
create table node_heartbeat_history (
  node_id      uuid        not null,
  slot         smallint    not null,
  received_at  timestamptz not null,
  telemetry    jsonb       not null,
  primary key (node_id, slot)
) with (fillfactor = 70);

create table node_snapshots (
  node_id       uuid        not null,
  version       int         not null,
  content_hash  text        not null,
  snapshot_jws  text        not null,
  created_at    timestamptz not null default now(),
  primary key (node_id, version)
);
