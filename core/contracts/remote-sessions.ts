/** Wire contract of the remote-session API (/api/v1/remote-sessions). */
import * as v from "valibot";
import { Limit, Uuid } from "./common.ts";

export const REMOTE_SESSION_STATES = ["requested", "placing", "starting", "active", "detached", "terminating", "terminated", "failed"] as const;

export const StartSessionBody = v.strictObject({ resource_id: Uuid("a resource id") });
export const RemoteSessionParam = v.strictObject({ id: Uuid("a session id") });
export const ListRemoteSessionsQuery = v.strictObject({
  limit: Limit,
  after: v.optional(Uuid("a cursor")),
  organization_id: v.optional(Uuid("an organization id")),
  state: v.optional(v.picklist(REMOTE_SESSION_STATES)),
  /** `true`: every member's sessions in `organization_id` (org owners and admins); otherwise the caller's own. */
  all: v.optional(v.picklist(["true", "false"])),
});
