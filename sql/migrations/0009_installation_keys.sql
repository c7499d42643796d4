-- Fingerprints of the keys every replica must share (control/installation/keys.ts).
-- The first replica to start records its keys; every later one compares and
-- refuses to start on a mismatch, instead of answering 401 to the others'
-- tokens and `secret.undecryptable` on their secrets. A fingerprint is a
-- truncated SHA-256 over a domain-separated string (core/crypto/
-- shared-key-fingerprint.ts): it tells keys apart and reveals nothing of them.
create table installation_keys (
  purpose      text        not null check (purpose in ('auth_token', 'data_plane_token', 'secret_encryption')),
  -- SECRET_ENCRYPTION_KEY_ID for secret master keys; '' for the one-key purposes.
  key_id       text        not null default '',
  fingerprint  text        not null,
  -- Secret master keys: the key new secrets are sealed with, which every replica
  -- must hold. Keys no longer configured stay recorded, so an id is never reused
  -- for another key. One-key purposes: always true.
  active       boolean     not null,
  recorded_at  timestamptz not null default now(),
  primary key (purpose, key_id)
);
create unique index installation_keys_one_active on installation_keys (purpose) where active;
