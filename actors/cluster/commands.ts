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
import type { Tx } from "../../sql/db.ts";
import type { ActorEvent } from "../host/kind.ts";

export const DEFAULT_ARCHIVE_GRACE_MS = 24 * 60 * 60 * 1000;

export interface NewCluster {
  name: string;
  slug: string;
  region?: string | null;
  metadata?: Record<string, unknown>;
}

/**
 * A new cluster's id, create event and sealed authority (signing key and node
 * CA), made before any transaction opens: key generation is slow.
 */
export async function prepareCluster(host: ActorHost, keyring: Keyring, input: NewCluster) {
  const id = newId(host.now().getTime());
  const authority = await newAuthority(keyring, id, host.now());
  const event = { type: "cluster.create", name: input.name, slug: input.slug, region: input.region ?? null, metadata: input.metadata ?? {} };
  return { id, event, authority };
}

/** Creates the cluster and its authority in one commit. */
export async function createCluster(host: ActorHost, keyring: Keyring, input: NewCluster, change: ChangeContext): Promise<SendResult> {
  const p = await prepareCluster(host, keyring, input);
  return host.sendWith(CLUSTER, p.id, p.event, change, (tx) => insertAuthority(tx, p.authority));
}

/** Creates a prepared cluster inside a `host.batch`, so it commits with the rest of the batch or not at all. */
export async function createPreparedCluster(
  tx: Tx,
  step: (kind: string, id: string, event: ActorEvent, change: ChangeContext) => Promise<SendResult>,
  p: Awaited<ReturnType<typeof prepareCluster>>,
  change: ChangeContext,
): Promise<void> {
  await step(CLUSTER, p.id, p.event, change);
  await insertAuthority(tx, p.authority);
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

export function updateCluster(
  host: ActorHost,
  id: string,
  patch: { name?: string; slug?: string; region?: string | null; metadata?: Record<string, unknown> },
  change: ChangeContext,
) {
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
