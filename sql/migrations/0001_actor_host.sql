-- Actor host: persisted xstate snapshots, their journal, and durable timers.
-- One row per actor; the row lock (SELECT ... FOR UPDATE) serialises transitions
-- across every control-plane replica.
create table actors (
  kind            text        not null,
  id              text        not null,
  machine_version int         not null,
  version         int         not null check (version >= 0),
  state           text        not null,
  snapshot        jsonb       not null,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  primary key (kind, id)
);

-- Append-only: one row per accepted event, written in the same transaction as
-- the snapshot it produced. (kind, id, version) is unique, so a lost update
-- would surface as a constraint violation, never as a silent overwrite.
create table actor_journal (
  seq            bigserial   primary key,
  kind           text        not null,
  actor_id       text        not null,
  version        int         not null,
  event_type     text        not null,
  event          jsonb       not null,
  author_type    text        not null,
  author_id      text        not null,
  source         text        not null,
  trace_id       text        not null,
  state_before   text        not null,
  state_after    text        not null,
  created_at     timestamptz not null default now(),
  unique (kind, actor_id, version)
);

-- Durable timers: claimed with FOR UPDATE SKIP LOCKED by the scheduler on
-- every replica and delivered as ordinary events. One timer per (actor, name):
-- scheduling again replaces it.
create table actor_timers (
  id          bigserial   primary key,
  kind        text        not null,
  actor_id    text        not null,
  name        text        not null,
  event       jsonb       not null,
  due_at      timestamptz not null,
  attempts    int         not null default 0,
  last_error  text,
  created_at  timestamptz not null default now(),
  unique (kind, actor_id, name),
  foreign key (kind, actor_id) references actors (kind, id) on delete cascade
);
create index actor_timers_due on actor_timers (due_at);
