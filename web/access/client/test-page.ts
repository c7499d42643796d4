/**
 * The page the browser test of the access client loads (bundled in memory by
 * client.browser.test.ts, never served by the product): a text box whose
 * keystrokes go to the input channel and a pane that shows the render
 * channel, over the same `connect()` the access portal uses. The query names
 * the entry URL, its certificate hash and the token; `nowt=1` removes the
 * browser's WebTransport first, so the library must fall back to WebSocket.
 */
import { connect } from "./connect.ts";

const q = new URLSearchParams(location.search);
const status = document.getElementById("status") as HTMLElement;
const render = document.getElementById("render") as HTMLElement;
const input = document.getElementById("input") as HTMLTextAreaElement;

if (q.get("nowt") === "1") Reflect.deleteProperty(globalThis, "WebTransport");

try {
  const session = await connect({
    urls: [q.get("url") ?? ""],
    certificateHashes: [q.get("hash") ?? ""],
    sessionId: "3f1c1d9e-0000-4000-8000-000000000001",
    token: q.get("token") ?? "",
  });
  const decoder = new TextDecoder();
  session.onOutput((bytes) => {
    render.textContent += decoder.decode(bytes, { stream: true });
  });
  input.addEventListener("keydown", (e) => {
    const keys = e.key === "Enter" ? "\r" : e.key.length === 1 ? e.key : "";
    if (!keys) return;
    e.preventDefault();
    void session.send(keys);
  });
  status.dataset.transport = session.transport;
  status.textContent = `connected over ${session.transport}`;
} catch (err) {
  status.dataset.error = (err as Error).message;
  status.textContent = `failed: ${(err as Error).message}`;
}
