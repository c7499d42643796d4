-- Version storage and rollout (secure-access-fabric-target.md §10 "Version
-- Storage and Release Channels", "Update Safety States"; docs/updates.md).
--
-- The control plane keeps the TUF repository that `scripts/release publish`
-- signs: each metadata document as it was uploaded (after tuf-js verified it
-- against the Product Root), the releases those documents list, and their
-- files (the bytes live in the ArtifactStore, content-addressed by sha256).
-- Channels, rings and rollouts are the control plane's own policy.

-- Signed TUF metadata, exactly as uploaded: served to agents and update caches.
create table version_metadata (
  role        text        not null check (role in ('root', 'targets', 'snapshot', 'timestamp')),
  version     integer     not null check (version > 0),
  body        text        not null,
  stored_at   timestamptz not null default now(),
  primary key (role, version)
);

create table releases (
  version           text        primary key,
  -- The channel the release manifest proposes; where it runs is decided by channels and rollouts.
  proposed_channel  text        not null,
  manifest          jsonb       not null,
  targets_version   integer     not null,
  published_at      timestamptz not null default now(),
  published_by      text        not null,
  blocked_at        timestamptz,
  blocked_reason    text
);

create table release_artifacts (
  version     text        not null references releases (version),
  target      text        not null,
  sha256      text        not null check (sha256 ~ '^[0-9a-f]{64}$'),
  length      bigint      not null check (length >= 0),
  kind        text        not null,
  role        text,
  os          text,
  arch        text,
  primary key (version, target)
);

-- What each channel of a cluster points at (a rollout that completes moves it).
create table release_channels (
  cluster_id  uuid        not null references clusters (id),
  channel     text        not null check (channel in ('stable', 'current', 'candidate')),
  version     text        references releases (version),
  updated_at  timestamptz not null default now(),
  primary key (cluster_id, channel)
);

-- Which channel a node follows and which rollout ring it is in (absent: stable, default).
create table node_update_settings (
  node_id     uuid        primary key references nodes (id),
  cluster_id  uuid        not null references clusters (id),
  channel     text        not null default 'stable' check (channel in ('stable', 'current', 'candidate')),
  ring        text        not null default 'default' check (ring ~ '^[a-z][a-z0-9-]{0,31}$'),
  updated_at  timestamptz not null default now()
);
create index node_update_settings_cluster on node_update_settings (cluster_id);

-- A rollout moves one channel of one cluster to a version, ring by ring (core/updates/rollout.ts is its machine).
create table rollouts (
  id              uuid        primary key,
  cluster_id      uuid        not null references clusters (id),
  channel         text        not null check (channel in ('stable', 'current', 'candidate')),
  from_version    text        references releases (version),
  to_version      text        not null references releases (version),
  status          text        not null check (status in ('active', 'paused', 'halted', 'completed')),
  -- The machine's whole state (rings, shares, the ring reached, why it halted).
  state           jsonb       not null,
  created_by      text        not null,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now()
);
create unique index rollouts_one_open on rollouts (cluster_id, channel) where status in ('active', 'paused');
create index rollouts_cluster on rollouts (cluster_id, created_at desc);

-- Each node's last reported update state (telemetry.update), written only when it changes.
create table node_update_state (
  node_id      uuid        primary key references nodes (id),
  cluster_id   uuid        not null references clusters (id),
  state        text        not null,
  current      text,
  target       text,
  failed       text,
  reason       text,
  reported_at  timestamptz not null
);
create index node_update_state_cluster on node_update_state (cluster_id);
