/**
 * Passwords hashed by Bun's built-in argon2id (before the runtime seam) still verify
 * with @node-rs/argon2. The hashes below were made by Bun 1.4.5's own
 * `password.hash(pw, { algorithm: "argon2id", memoryCost, timeCost })`
 * and are fixed here, so this test runs the same on Bun and Deno.
 */
import { expect, test } from "../../fixtures/test.ts";
import { hashPassword, NO_PASSWORD, verifyPassword } from "./password.ts";

const BUN_HASHES = [
  {
    password: "s3cret-Passw0rd!",
    hash: "$argon2id$v=19$m=19456,t=2,p=1$FZrU9XoKqU4jRY99GKt3HIPNDK4QdvOgFWO7YQeXwFA$bZIQZge/M2amaWzJeP9AZatxt1nwk+T0KikTkWDt4Lw",
  },
  {
    password: "another one",
    hash: "$argon2id$v=19$m=65536,t=3,p=1$lcSCW8oTI3KJ3FzmtUpgbIU8G0mxiWK2ZiOR20QDDzM$iOQ8zTexRh3QNQmdRzh4NgtiwW5K9OBFjkn9/RB/Ztc",
  },
];

test("a hash Bun's argon2id made verifies its password and no other", async () => {
  for (const { password, hash } of BUN_HASHES) {
    expect(await verifyPassword(password, hash)).toBe(true);
    expect(await verifyPassword(`${password}x`, hash)).toBe(false);
  }
});

test("new hashes are argon2id with the OWASP parameters Bun's hashing used, in the same PHC format", async () => {
  const hash = await hashPassword("fresh password");
  expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
  expect(await verifyPassword("fresh password", hash)).toBe(true);
  expect(await verifyPassword("fresh passwore", hash)).toBe(false);
});

test("no password, an identity-source-only account and a malformed stored hash never match and never throw", async () => {
  expect(await verifyPassword("anything", undefined)).toBe(false);
  expect(await verifyPassword("anything", NO_PASSWORD)).toBe(false);
  expect(await verifyPassword("anything", "$argon2id$v=19$not-a-hash")).toBe(false);
});
