/**
 * Resource credentials for the adapter of a running session, and for nobody
 * else: the node must be the session's adapter node and the session must be
 * starting, active or detached. The secret is unsealed here, sent once over
 * the node's authenticated channel, never logged, never put in a snapshot or
 * an assignment; every delivery is audited with the session and the node.
 */
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import type { SessionCredentials } from "../../core/contracts/adapter.ts";
import { appendAudit } from "../../sql/audit.ts";
import { getRemoteSession } from "../../sql/remote-sessions.ts";
import { getResource, getResourceSecret } from "../../sql/resources.ts";
import { resourceSecretAad } from "../secrets.ts";
import type { NodePrincipal } from "../nodes/node-auth.ts";

/** States in which the adapter may (re)connect to the target. */
const RUNNING = new Set(["starting", "active", "detached"]);

export async function sessionCredentials(
  deps: Pick<ControlDeps, "db" | "identity">,
  node: NodePrincipal,
  sessionId: string,
  change: ChangeContext,
): Promise<SessionCredentials> {
  return deps.db.transaction(async (tx) => {
    const s = await getRemoteSession(tx, sessionId);
    if (!s || s.adapterNodeId !== node.nodeId || !RUNNING.has(s.state)) {
      throw new DomainError("adapter.session_not_assigned", "no such session on this node", { session_id: sessionId });
    }
    const r = await getResource(tx, s.resourceId);
    const sealed = r?.secretRef ? await getResourceSecret(tx, r.secretRef) : undefined;
    if (!r || !sealed) throw new DomainError("adapter.no_credentials", "the session's resource has no stored credentials", { session_id: sessionId });
    const secret = JSON.parse(new TextDecoder().decode(await deps.identity.keyring.open(sealed, resourceSecretAad(r.id)))) as Record<string, unknown>;
    const pick = (k: string) => (typeof secret[k] === "string" ? (secret[k] as string) : null);
    const out: SessionCredentials = {
      session_id: sessionId,
      username: pick("username"),
      password: pick("password"),
      private_key: pick("private_key"),
      domain: pick("domain"),
    };
    await appendAudit(tx, {
      change,
      organizationId: s.organizationId,
      action: "resource.secret_delivered",
      targetType: "resource",
      targetId: r.id,
      outcome: "success",
      details: { session_id: sessionId, node_id: node.nodeId, fields: Object.keys(secret).sort() },
    });
    return out;
  });
}
