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
