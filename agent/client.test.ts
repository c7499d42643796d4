/** The agent's client speaks the node-agent contract: paths from the table, answers checked before use, errors with the server's code. */
import { afterAll, beforeAll, expect, test } from "../fixtures/test.ts";
import { serve, type RunningServer } from "../core/runtime/index.ts";
import { AgentError, ControlPlaneClient } from "./client.ts";
import { ManualClock } from "../fixtures/clock.ts";

let server: RunningServer;
const seen: string[] = [];
beforeAll(async () => {
  server = await serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) => {
      const url = new URL(req.url);
      seen.push(`${req.method} ${url.pathname}${url.search}`);
      if (url.pathname.endsWith("/challenge")) return Response.json({ challenge: 42 });
      if (url.pathname.endsWith("/snapshot")) return Response.json({ version: 3, changed: false });
      return Response.json({ error: { code: "node.auth_refused", fallback_message: "The node could not be authenticated.", details: {} } }, { status: 401 });
    },
  });
});
afterAll(() => server.stop({ force: true }));

const client = () => new ControlPlaneClient(`http://127.0.0.1:${server.port}`, new ManualClock());

test("a call's method, path and query come from the contract table", async () => {
  expect(await client().call("snapshot", { token: "t", query: { after_version: "2", wait: "0" } })).toEqual({ version: 3, changed: false });
  expect(seen.at(-1)).toBe("GET /api/v1/node-agents/snapshot?after_version=2&wait=0");
});

test("an answer that does not match the contract is refused before anything uses it", async () => {
  const err = await client()
    .call("challenge", { params: { requestId: "r1" } })
    .catch((e) => e);
  expect(err).toBeInstanceOf(AgentError);
  expect((err as AgentError).code).toBe("answer_invalid");
  expect(seen.at(-1)).toBe("POST /api/v1/node-agents/enrollments/r1/challenge");
});

test("an error answer keeps the server's stable code and status", async () => {
  const err = (await client()
    .call("heartbeat", { token: "t", body: { seq: 1 } })
    .catch((e) => e)) as AgentError;
  expect([err.code, err.status]).toEqual(["node.auth_refused", 401]);
});
