-- A node may renew its certificate with the key it already has: that is a new
-- certificate (a new row) for the same key and node. The index this replaces
-- allowed one row per (key, node), so such a renewal failed; it never kept a
-- key from naming two nodes either (enrollment and renewal check that).
drop index node_identities_one_node_per_key;
-- One active certificate per key: the key a node proves names one node.
create unique index node_identities_one_active_per_key on node_identities (fingerprint) where identity_status = 'active';
