-- Remote sessions (issue 12): the resource's detached timeout policy, and the
-- projection of the remote_session actor (sessions and their attachments),
-- written only by that actor's projection (actors/remote-session/kind.ts).
alter table resources add column detached_timeout_seconds int not null default 900
  check (detached_timeout_seconds between 60 and 86400);

create table remote_sessions (
  id                       uuid        primary key,
  organization_id          uuid        not null,
  resource_id              uuid        not null,
  resource_name            text        not null,
  user_id                  uuid        not null,
  protocol                 text        not null,
  egress_pool              text,
  state                    text        not null,
  adapter_node_id          uuid,
  entry_node_ids           uuid[]      not null default '{}',
  entry_name               text,
  controller_attachment_id uuid,
  failure_reason           text,
  end_reason               text,
  requested_at             timestamptz not null,
  started_at               timestamptz,
  detached_at              timestamptz,
  ended_at                 timestamptz,
  updated_at               timestamptz not null
);
create index remote_sessions_org on remote_sessions (organization_id, id);
create index remote_sessions_user on remote_sessions (user_id, id);
create index remote_sessions_adapter_live on remote_sessions (adapter_node_id) where state in ('placing', 'starting', 'active', 'detached', 'terminating');

create table remote_session_attachments (
  id              uuid        primary key,
  session_id      uuid        not null,
  user_id         uuid        not null,
  client_id       text        not null,
  role            text        not null check (role in ('controller', 'observer')),
  state           text        not null check (state in ('attached', 'detached', 'taken_over', 'ended')),
  attached_at     timestamptz not null,
  ended_at        timestamptz,
  end_reason      text,
  taken_over_by   uuid
);
create index remote_session_attachments_session on remote_session_attachments (session_id, attached_at);
