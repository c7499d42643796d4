/**
 * The heartbeat handler's one call into version storage: the node's
 * reported update state goes to the rollout, and the answer says which
 * version the node should run (update-answer.ts keeps both cheap).
 */
import type { ControlDeps } from "../deps.ts";
import type { NodePrincipal } from "../nodes/node-auth.ts";
import { heartbeatUpdate, type UpdateRequestAnswer } from "./update-answer.ts";

/**
 * Version storage's base URL as this agent reaches the control plane: the
 * origin it sent the heartbeat to, so whatever address or proxy works for
 * heartbeats works for downloads too.
 */
export function versionStorageUrl(requestUrl: string): string {
  return `${new URL(requestUrl).origin}/api/v1/versions/repository`;
}

export function answerUpdate(
  deps: Pick<ControlDeps, "db" | "log" | "fabric" | "clock">,
  node: NodePrincipal,
  body: { agent_version?: string; telemetry: Record<string, unknown> },
  storageUrl: string,
): Promise<UpdateRequestAnswer | null> {
  return heartbeatUpdate(
    { db: deps.db, log: deps.log, cache: deps.fabric.versions.policy, now: deps.clock() },
    node,
    body.telemetry,
    body.agent_version ?? null,
    storageUrl,
  );
}
