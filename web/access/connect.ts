/**
 * The one place the portal gets its data-plane client from. Until the
 * client library (WebTransport with the WebSocket fallback) is built, this
 * refuses clearly; integration replaces this file, and nothing else, with the
 * real implementation of `Connect`.
 */
import type { Connect } from "./terminal-transport.ts";

export const connect: Connect = async () => {
  throw new Error("data-plane client not built yet");
};
