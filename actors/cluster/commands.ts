/**
 * Commands on clusters: the only way callers change one. Each turns a request
 * into one actor event; times come from the host's clock so the machine stays
 * pure.
 */
import type { ChangeContext } from "../../core/change.ts";
import { newId } from "../../core/ids.ts";
import type { ActorHost, SendResult } from "../host/host.ts";
import { CLUSTER } from "./kind.ts";
import { newAuthority } from "./authority.ts";
import { insertAuthority } from "../../sql/cluster-authorities.ts";
import type { Keyring } from "../../core/crypto/envelope.ts";

export const DEFAULT_ARCHIVE_GRACE_MS = 24 * 60 * 60 * 1000;

export interface NewCluster { name: string; slug: string; region?: string | null; metadata?: Record<string, unknown> }

/** Creates the cluster and its authority (signing key and node CA) in one commit. */
export async function createCluster(host: ActorHost, keyring: Keyring, input: NewCluster, change: ChangeContext): Promise<SendResult> {
  const id = newId(host.now().getTime());
  const authority = await newAuthority(keyring, id, host.now());
  const event = { type: "cluster.create", name: input.name, slug: input.slug, region: input.region ?? null, metadata: input.metadata ?? {} };
  return host.sendWith(CLUSTER, id, event, change, (tx) => insertAuthority(tx, authority));
}

export function markMinority(host: ActorHost, id: string, reason: string, change: ChangeContext) {
  return host.send(CLUSTER, id, { type: "cluster.mark_minority", reason }, change);
}

export function promoteCluster(host: ActorHost, id: string, change: ChangeContext) {
  return host.send(CLUSTER, id, { type: "cluster.promote" }, change);
}

export function mergeCluster(host: ActorHost, id: string, change: ChangeContext) {
  return host.send(CLUSTER, id, { type: "cluster.merge" }, change);
}

export function updateCluster(host: ActorHost, id: string, patch: { name?: string; slug?: string; region?: string | null; metadata?: Record<string, unknown> }, change: ChangeContext) {
  return host.send(CLUSTER, id, { type: "cluster.update", ...patch }, change);
}

export function suspendCluster(host: ActorHost, id: string, reason: string, change: ChangeContext) {
  return host.send(CLUSTER, id, { type: "cluster.suspend", reason }, change);
}

export function resumeCluster(host: ActorHost, id: string, change: ChangeContext) {
  return host.send(CLUSTER, id, { type: "cluster.resume" }, change);
}

export function archiveCluster(host: ActorHost, id: string, graceMs: number, change: ChangeContext) {
  return host.send(CLUSTER, id, { type: "cluster.archive", graceMs, requestedAt: host.now().toISOString() }, change);
}

export function restoreCluster(host: ActorHost, id: string, change: ChangeContext) {
  return host.send(CLUSTER, id, { type: "cluster.restore" }, change);
}
