/** Reads of remote sessions (the actor's projection); routes decide which organizations and users the caller may see. */
import { attachmentsOf, getRemoteSession, listRemoteSessions, type AttachmentRow, type RemoteSessionRow } from "../../sql/remote-sessions.ts";
import { reader } from "../read.ts";
import { publishedEntryUrls } from "../../sql/mesh.ts";

export type { AttachmentRow, RemoteSessionRow };

export const remoteSession = reader(getRemoteSession);
export const entryUrls = reader(publishedEntryUrls);
export const remoteSessions = reader(listRemoteSessions);
export const sessionAttachments = reader(attachmentsOf);
