/** The part of an RDP session (web/access/client/rdp-session.ts) the desktop screen and the page's transport use; tests hand in a stand-in. */
import type { RdpSession } from "../client/rdp-session.ts";

export type DesktopSession = Pick<
  RdpSession,
  | "on"
  | "ack"
  | "sendInput"
  | "resize"
  | "setQuality"
  | "refresh"
  | "sendClipboard"
  | "upload"
  | "listDownloads"
  | "download"
  | "detach"
  | "close"
  | "rtt"
  | "counters"
  | "policy"
  | "hasClipboard"
  | "hasFileTransfer"
  | "transport"
>;
