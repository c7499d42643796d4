-- Where an entry node takes client connections (issue 12): the public URLs of
-- its WebTransport listener (the WebSocket fallback is the same host and port
-- with wss:) and the SHA-256 hashes of its short-lived self-signed
-- certificate, for clients that pin it (`serverCertificateHashes`). Written by
-- the entry node's agent, read into attach offers.
create table entry_endpoints (
  node_id            uuid        primary key,
  cluster_id         uuid        not null,
  urls               text[]      not null,
  certificate_hashes text[]      not null default '{}',
  updated_at         timestamptz not null
);
