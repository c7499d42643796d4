-- Identity sources (backend-foundation.md "Platform-Core V2 Notes"): where an
-- organization's members sign in (local passwords, an OIDC provider, an LDAP
-- directory), how the source's groups map to organization roles, which
-- external subject is which user, and whether an organization requires
-- single sign-on. A source with no organization is the platform's own (one
-- at most), for platform staff; it grants no role of any kind.

create table identity_sources (
  id                   uuid        primary key,
  organization_id      uuid        references organizations (id),
  kind                 text        not null check (kind in ('local', 'oidc', 'ldap')),
  name                 text        not null,
  enabled              boolean     not null default true,
  -- Non-secret settings (issuer, client id, URLs, filters, policies); validated by core/contracts/identity-sources.ts.
  config               jsonb       not null default '{}'::jsonb,
  -- The client secret or bind password, sealed with the keyring (aad identity-source:<id>); never returned.
  secret_key_id        text,
  secret_wrapped_key   text,
  secret_ciphertext    text,
  last_sync_at         timestamptz,
  last_sync_outcome    text        check (last_sync_outcome in ('success', 'failure')),
  last_sync_details    jsonb,
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  constraint identity_sources_org_name_key unique (organization_id, name)
);
create index identity_sources_org on identity_sources (organization_id);
create unique index identity_sources_one_platform on identity_sources ((organization_id is null)) where organization_id is null;

-- Group (OIDC claim value or LDAP group DN) → organization role of the source's organization.
create table identity_mappings (
  id                   uuid        primary key,
  source_id            uuid        not null references identity_sources (id) on delete cascade,
  external_group       text        not null,
  role                 text        not null check (role in ('org_owner', 'org_admin', 'org_operator', 'org_member', 'org_viewer')),
  created_at           timestamptz not null default now(),
  constraint identity_mappings_source_group_key unique (source_id, external_group)
);

-- Which user an external subject (OIDC `sub`, LDAP entry) is; created on first sign-in or sync.
create table external_identities (
  source_id            uuid        not null references identity_sources (id) on delete cascade,
  subject              text        not null,
  user_id              uuid        not null references users (id),
  email                text        not null,
  groups               jsonb       not null default '[]'::jsonb,
  last_seen_at         timestamptz not null default now(),
  disabled_at          timestamptz,
  primary key (source_id, subject)
);
create index external_identities_user on external_identities (user_id);

alter table organizations add column require_sso boolean not null default false;
-- The source whose groups decide this membership's role (null: managed by hand).
alter table organization_memberships add column source_id uuid references identity_sources (id) on delete set null;
-- How the session signed in (null: local password), so a source can revoke what it let in.
alter table auth_sessions add column identity_source_id uuid references identity_sources (id) on delete set null;
