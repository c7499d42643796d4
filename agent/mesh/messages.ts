/**
 * The agent's own control messages: on `fabric_control` (hop by hop, never
 * routed) the channel hello and heartbeats; on `route_control` the
 * route-health pings, which travel the same path (direct or through relays)
 * as the traffic they vouch for. Anything that does not parse is dropped and
 * counted; it never reaches the channel machine.
 */
import * as v from "valibot";
import { CHANNEL_CLASSES } from "./channel.ts";

const Id = v.pipe(v.string(), v.maxLength(64));
const Count = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER));

export const ControlMessage = v.variant("type", [
  v.strictObject({
    type: v.literal("hello"),
    protocol_version: Count,
    cluster_id: Id,
    node_id: Id,
    classes: v.pipe(v.array(v.picklist(CHANNEL_CLASSES)), v.maxLength(CHANNEL_CLASSES.length)),
    route_epoch: Count,
    trust_bundle_version: Count,
    draining: v.boolean(),
  }),
  v.strictObject({ type: v.picklist(["hb", "hb_ack", "ping", "pong"]), seq: Count, sent_at: v.number() }),
]);
export type ControlMessage = v.InferOutput<typeof ControlMessage>;

/** Channel control (hello, heartbeats) is hop by hop on fabric_control; route health follows the route on route_control. */
export function controlClass(m: ControlMessage): "fabric_control" | "route_control" {
  return m.type === "ping" || m.type === "pong" ? "route_control" : "fabric_control";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encode(m: ControlMessage): Uint8Array {
  return encoder.encode(JSON.stringify(m));
}

/** The message, or null when it is not one of ours. */
export function decode(data: Uint8Array): ControlMessage | null {
  if (data.length > 4096) return null;
  try {
    const r = v.safeParse(ControlMessage, JSON.parse(decoder.decode(data)));
    return r.success ? r.output : null;
  } catch {
    return null;
  }
}
