/**
 * The API shapes the portal reads (docs/api.md, docs/sessions.md), reduced
 * to what an end user sees: resources by name and protocol, sessions by
 * resource, state and entry point name. Addresses arrive in some answers
 * (a resource's target, an offer's entry URLs) but are never shown.
 */
export interface Org {
  id: string;
  name: string;
}

export interface Resource {
  id: string;
  organization_id: string;
  name: string;
  protocol: "ssh" | "rdp" | "vnc";
  egress_pool: string | null;
}

export type SessionState = "requested" | "placing" | "starting" | "active" | "detached" | "terminating" | "terminated" | "failed";

export interface RemoteSession {
  id: string;
  organization_id: string;
  resource_id: string;
  resource_name: string;
  protocol: string;
  egress_pool: string | null;
  state: SessionState;
  entry: { name: string } | null;
  failure_reason: string | null;
  /** Why the adapter could not start it, as a stable code (`adapter.certificate_mismatch`, …). */
  failure_code: string | null;
  /** That code's text, in English. */
  failure_message: string | null;
  end_reason: string | null;
  requested_at: string;
  started_at: string | null;
  detached_at: string | null;
  ended_at: string | null;
}

/** What the control plane answers on start, attach and takeover: one attachment's token and where to present it. */
export interface AttachOffer {
  attachment_id: string;
  token: string;
  expires_at: string;
  channels: string[];
  entry: { name: string; urls: string[]; certificate_hashes: string[] };
}

/** Sessions a user can still open: the adapter is (being) started and nobody ended it. */
export const LIVE_STATES: SessionState[] = ["starting", "active", "detached"];

/**
 * Roles that may start remote sessions (`session.connect` in core/authz.ts).
 * The control plane decides; this only keeps organizations the user could
 * never connect in out of the picker.
 */
export const CONNECT_ROLES = ["org_owner", "org_admin", "org_operator", "org_member"];
export const CONNECT_PLATFORM_ROLES = ["platform_owner", "platform_admin"];

/** Resource kinds the portal opens in the browser today: a terminal for SSH, a desktop for RDP. */
export const BROWSER_PROTOCOLS = new Set(["ssh", "rdp"]);

export const PROTOCOL_LABELS: Record<string, string> = { ssh: "Terminal (SSH)", rdp: "Desktop (RDP)" };
