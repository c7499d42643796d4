-- Identity, tenancy and policy: installation authority, users, platform role
-- grants, organizations and memberships, auth sessions with refresh-token
-- families, trusted devices, resources with policies, encrypted secrets, audit.

-- One row: how this installation was activated. Absent until the first owner.
create table installation_authority (
  id                   int         primary key check (id = 1),
  installation_id      uuid        not null,
  mode                 text        not null check (mode in ('strict', 'dev')),
  product_root_fingerprint text,
  activation_jws       text,
  activated_at         timestamptz not null default now(),
  insecure_bootstrap   boolean     not null default false
);

create table users (
  id                   uuid        primary key,
  email                text        not null,
  display_name         text        not null,
  password_hash        text        not null,
  -- Legacy/dev role column. In strict mode it grants nothing without a signed grant.
  platform_role        text        check (platform_role in ('platform_owner', 'platform_admin', 'platform_recovery_admin')),
  status               text        not null default 'active' check (status in ('active', 'disabled')),
  failed_logins        int         not null default 0,
  locked_until         timestamptz,
  totp_key_id          text,
  totp_wrapped_key     text,
  totp_ciphertext      text,
  totp_enabled_at      timestamptz,
  totp_last_step       bigint,
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  constraint users_email_key unique (email)
);

-- Product Root signed grants of platform roles (strict mode's only source of platform power).
create table platform_role_grants (
  id                   uuid        primary key,
  user_id              uuid        not null references users (id),
  role                 text        not null,
  jws                  text        not null,
  key_fingerprint      text        not null,
  created_at           timestamptz not null default now(),
  revoked_at           timestamptz
);
create index platform_role_grants_user on platform_role_grants (user_id) where revoked_at is null;

create table organizations (
  id                   uuid        primary key,
  name                 text        not null,
  slug                 text        not null,
  status               text        not null default 'active' check (status in ('active', 'suspended')),
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  constraint organizations_slug_key unique (slug)
);

create table organization_memberships (
  organization_id      uuid        not null references organizations (id),
  user_id              uuid        not null references users (id),
  role                 text        not null check (role in ('org_owner', 'org_admin', 'org_operator', 'org_member', 'org_viewer')),
  status               text        not null default 'active' check (status in ('active', 'suspended')),
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  primary key (organization_id, user_id)
);
create index organization_memberships_user on organization_memberships (user_id);

create table trusted_devices (
  id                   uuid        primary key,
  user_id              uuid        not null references users (id),
  device_hash          text        not null,
  name                 text        not null,
  trusted_at           timestamptz not null default now(),
  last_seen_at         timestamptz,
  revoked_at           timestamptz,
  constraint trusted_devices_user_device_key unique (user_id, device_hash)
);

-- An auth session is one refresh-token family: reuse of any spent token revokes it whole.
create table auth_sessions (
  id                   uuid        primary key,
  user_id              uuid        not null references users (id),
  device_hash          text        not null,
  mfa_at               timestamptz,
  created_at           timestamptz not null default now(),
  last_seen_at         timestamptz not null default now(),
  expires_at           timestamptz not null,
  revoked_at           timestamptz,
  revoked_reason       text,
  user_agent           text,
  ip                   text
);
create index auth_sessions_user on auth_sessions (user_id);

create table refresh_tokens (
  prefix               text        primary key,
  session_id           uuid        not null references auth_sessions (id),
  secret_hash          text        not null,
  issued_at            timestamptz not null default now(),
  expires_at           timestamptz not null,
  used_at              timestamptz
);
create index refresh_tokens_session on refresh_tokens (session_id);

create table resources (
  id                   uuid        primary key,
  organization_id      uuid        not null references organizations (id),
  name                 text        not null,
  protocol             text        not null check (protocol in ('rdp', 'vnc', 'ssh')),
  target_host          text        not null,
  target_port          int         not null check (target_port between 1 and 65535),
  egress_pool          text,
  certificate_verification_mode text not null default 'strict' check (certificate_verification_mode in ('strict', 'ignore')),
  clipboard_mode       text        not null default 'disabled' check (clipboard_mode in ('disabled', 'client_to_server', 'server_to_client', 'bidirectional')),
  file_transfer_mode   text        not null default 'disabled' check (file_transfer_mode in ('disabled', 'client_to_server', 'server_to_client', 'bidirectional')),
  metadata             jsonb       not null default '{}'::jsonb,
  secret_ref           uuid,
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  constraint resources_org_name_key unique (organization_id, name)
);
create index resources_org on resources (organization_id, id);

create table resource_secrets (
  id                   uuid        primary key,
  resource_id          uuid        not null references resources (id) on delete cascade,
  key_id               text        not null,
  wrapped_key          text        not null,
  ciphertext           text        not null,
  created_at           timestamptz not null default now(),
  rotated_at           timestamptz not null default now()
);
create index resource_secrets_key on resource_secrets (key_id);

-- Append-only: no update or delete path exists in code; ids are UUIDv7 so they sort by time.
create table audit_events (
  id                   uuid        primary key,
  at                   timestamptz not null default now(),
  actor_type           text        not null,
  actor_id             text        not null,
  organization_id      uuid,
  action               text        not null,
  target_type          text        not null,
  target_id            text,
  outcome              text        not null check (outcome in ('success', 'denied', 'failure')),
  reason               text,
  trace_id             text        not null,
  details              jsonb       not null default '{}'::jsonb
);
create index audit_events_org on audit_events (organization_id, id);
create index audit_events_action on audit_events (action, id);
