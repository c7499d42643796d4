-- Remote-desktop quality policy per resource (spec target §8): the quality
-- profile a session starts with, an optional colour mode that overrides the
-- profile's, and whether the user may change either while connected. They
-- only matter to desktop protocols (rdp, vnc); an SSH terminal ignores them.
-- For rdp resources `host_key_fingerprint` holds the pinned server
-- certificate (SHA-256 of its DER encoding), in the same spelling.
alter table resources
  add column quality_profile text not null default 'balanced'
    check (quality_profile in ('emergency_grayscale', 'low_bandwidth', 'text_priority', 'balanced', 'high_quality')),
  add column color_mode text
    check (color_mode is null or color_mode in ('full', '256', '64', '16', 'grayscale')),
  add column quality_adjustable boolean not null default true;

-- Why an adapter could not start a session, as its stable error code
-- (`adapter.certificate_mismatch`, `adapter.auth_failed`, …; the catalog's
-- code only, never the adapter's message), shown to the session's users.
alter table remote_sessions add column failure_code text;
