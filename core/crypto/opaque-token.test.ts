import { describe, expect, test } from "../../fixtures/test.ts";
import { issueOpaqueToken, parseOpaqueToken, secretMatches } from "./opaque-token.ts";

describe("opaque tokens", () => {
  test("issue → parse → the secret matches the stored hash, and nothing else does", async () => {
    const t = await issueOpaqueToken("rt");
    const parsed = parseOpaqueToken("rt", t.token)!;
    expect(parsed.prefix).toBe(t.prefix);
    expect(t.hash).not.toContain(parsed.secret);
    expect(await secretMatches(parsed.secret, t.hash)).toBe(true);
    expect(
      await secretMatches(
        parsed.secret.replace(/.$/, (c) => (c === "A" ? "B" : "A")),
        t.hash,
      ),
    ).toBe(false);
  });

  test("malformed tokens and tokens of another kind do not parse", async () => {
    const t = await issueOpaqueToken("rt");
    expect(parseOpaqueToken("jt", t.token)).toBeNull();
    for (const bad of ["", "rap_rt_", `${t.token}x`, t.token.replace("rap_", "rap-"), `rap_rt_UPPERCASEPRE_${"a".repeat(43)}`]) {
      expect(parseOpaqueToken("rt", bad)).toBeNull();
    }
  });
});
