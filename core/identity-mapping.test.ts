import { describe, expect, test } from "../fixtures/test.ts";
import { groupsFromClaim, providerProvedMfa, roleFromGroups } from "./identity-mapping.ts";

describe("roleFromGroups", () => {
  const mappings = [
    { externalGroup: "ops", role: "org_operator" as const },
    { externalGroup: "CN=Admins,OU=Groups,DC=example,DC=org", role: "org_admin" as const },
    { externalGroup: "staff", role: "org_member" as const },
  ];
  test("the strongest mapped role wins", () => {
    expect(roleFromGroups(mappings, ["staff", "ops"], null)).toBe("org_operator");
    expect(roleFromGroups(mappings, ["staff", "cn=admins,ou=groups,dc=example,dc=org"], null)).toBe("org_admin");
  });
  test("no mapped group falls back to the default role, or to no role", () => {
    expect(roleFromGroups(mappings, ["other"], "org_viewer")).toBe("org_viewer");
    expect(roleFromGroups(mappings, [], null)).toBeNull();
  });
  test("a group named like a platform role maps to nothing", () => {
    const sneaky = [{ externalGroup: "admins", role: "platform_owner" as never }];
    expect(roleFromGroups(sneaky, ["admins"], null)).toBeNull();
  });
});

test("groupsFromClaim keeps strings only", () => {
  expect(groupsFromClaim(["a", 1, "", "b", null])).toEqual(["a", "b"]);
  expect(groupsFromClaim("solo")).toEqual(["solo"]);
  expect(groupsFromClaim({ a: 1 })).toEqual([]);
});

test("providerProvedMfa reads amr and the source's acr values", () => {
  expect(providerProvedMfa({ amr: ["pwd", "mfa"] }, [])).toBe(true);
  expect(providerProvedMfa({ amr: ["pwd"] }, [])).toBe(false);
  expect(providerProvedMfa({ acr: "urn:mace:incommon:iap:silver" }, ["urn:mace:incommon:iap:silver"])).toBe(true);
  expect(providerProvedMfa({ acr: "0" }, ["urn:x"])).toBe(false);
});
