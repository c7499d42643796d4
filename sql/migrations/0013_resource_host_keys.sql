-- The SSH host key an adapter accepts for a resource under strict
-- verification: its SHA-256 fingerprint as `ssh-keygen -l` prints it, without
-- the `=` padding. Not a secret (it identifies the server, it grants nothing),
-- so it is a column, shown to the organization, and carried in the session's
-- recorded target.
alter table resources add column host_key_fingerprint text
  check (host_key_fingerprint is null or host_key_fingerprint ~ '^SHA256:[A-Za-z0-9+/]{43}$');
