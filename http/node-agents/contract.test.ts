/** The node-agent routes the app serves are exactly the contract table's, method and path, so server and agent cannot drift apart. */
import { expect, test } from "../../fixtures/test.ts";
import * as v from "valibot";
import { createApp } from "../app.ts";
import { apiRoutes } from "../../fixtures/routes.ts";
import { callPath, NODE_AGENT_API, NODE_AGENT_BASE } from "../../core/contracts/node-agent-api.ts";

test("the app's /node-agents routes are the contract table's", () => {
  // Building the app needs no stores: the route table is static.
  const app = createApp({} as never);
  const served = apiRoutes(app).filter((r) => r.includes(NODE_AGENT_BASE));
  const contract = Object.values(NODE_AGENT_API)
    .map((c) => `${c.method} ${NODE_AGENT_BASE}${c.route}`)
    .sort();
  expect(served).toEqual(contract);
});

test("a call's path fills and escapes its parameters, and refuses a missing one", () => {
  expect(callPath("challenge", { requestId: "a/b" })).toBe(`${NODE_AGENT_BASE}/enrollments/a%2Fb/challenge`);
  expect(callPath("heartbeat")).toBe(`${NODE_AGENT_BASE}/heartbeat`);
  expect(() => callPath("bootstrap")).toThrow("missing path parameter requestId");
});

test("answers are checked: a snapshot poll must say whether it changed", () => {
  expect(v.safeParse(NODE_AGENT_API.snapshot.answer, { version: 3, changed: true, snapshot: "x.y.z" }).success).toBe(true);
  expect(v.safeParse(NODE_AGENT_API.snapshot.answer, { version: 3, changed: true }).success).toBe(false);
});
