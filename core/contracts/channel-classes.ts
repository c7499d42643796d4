/**
 * The channel classes of the node mesh (spec: secure-node-to-node-channel-
 * lifecycle §7): the one list used by the routing engine, the control plane's
 * signed QoS policy, the agent and the fabric-quic wrapper. The Rust crate
 * has the same list in `crates/fabric-quic/src/class.rs`, in the same order
 * (the order is the wire id − 1); crates/fabric-quic/classes.test.ts fails
 * when the two differ. `priority` mirrors the crate's stream priorities
 * (higher is sent first); `vpn_packet` alone rides datagrams.
 */
export const CHANNEL_CLASSES = [
  "fabric_control",
  "route_control",
  "health",
  "telemetry",
  "render",
  "input",
  "clipboard",
  "file_transfer",
  "storage_fetch",
  "update_fetch",
  "vpn_packet",
] as const;

export type ChannelClass = (typeof CHANNEL_CLASSES)[number];

export interface ChannelClassPolicy {
  name: ChannelClass;
  priority: number;
  reliable: boolean;
}

const PRIORITY: Record<ChannelClass, number> = {
  fabric_control: 100,
  input: 100,
  route_control: 90,
  health: 80,
  clipboard: 60,
  render: 50,
  file_transfer: 20,
  storage_fetch: 20,
  update_fetch: 20,
  telemetry: 10,
  vpn_packet: 0,
};

/** Every class with its priority, highest first (ties in list order); what signed snapshots carry as QoS. */
export const CLASS_POLICY: readonly ChannelClassPolicy[] = [...CHANNEL_CLASSES]
  .sort((a, b) => PRIORITY[b] - PRIORITY[a])
  .map((name) => ({ name, priority: PRIORITY[name], reliable: name !== "vpn_packet" }));

export const isChannelClass = (s: string): s is ChannelClass => (CHANNEL_CLASSES as readonly string[]).includes(s);
