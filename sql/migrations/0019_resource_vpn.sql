-- Managed sessions through a VPN connection (issue 14, docs/vpn.md): a
-- resource may name the connection its adapter dials the target through
-- (the connection's current lease owner opens the TCP). No foreign key: the
-- connection is actor-owned and only soft-deleted; the control plane checks
-- the reference (same organization, policy allows the service, the resource
-- and the target) on every write and again when it hands out an assignment.
alter table resources add column vpn_connection_id uuid;
create index resources_vpn_connection on resources (vpn_connection_id) where vpn_connection_id is not null;
