import { expect, test } from "../../fixtures/test.ts";
import { atHashMatches } from "./at-hash.ts";

// The example of OpenID Connect Core, Appendix A.3 (RS256).
const ACCESS_TOKEN = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
const AT_HASH = "77QmUPtjPfzWtF2AnpK9RQ";

test("at_hash of the spec's example matches, and only for its token and hash", async () => {
  expect(await atHashMatches("RS256", ACCESS_TOKEN, AT_HASH)).toBe(true);
  expect(await atHashMatches("RS256", `${ACCESS_TOKEN}x`, AT_HASH)).toBe(false);
  expect(await atHashMatches("RS512", ACCESS_TOKEN, AT_HASH)).toBe(false);
  expect(await atHashMatches("none", ACCESS_TOKEN, AT_HASH)).toBe(false);
});
