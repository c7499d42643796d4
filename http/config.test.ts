import { describe, expect, test } from "bun:test";
import { ConfigInvalid, loadConfig } from "./config.ts";

describe("config", () => {
  test("defaults serve the embedded store on loopback:8080", () => {
    expect(loadConfig({})).toMatchObject({ host: "127.0.0.1", port: 8080, dataDir: ".data", databaseUrl: undefined, redisUrl: undefined, appEnv: "development" });
  });

  test("empty variables count as unset", () => {
    expect(loadConfig({ DATABASE_URL: "", PORT: "" }).port).toBe(8080);
  });

  test("every bad value is named in one error", () => {
    const err = (() => {
      try {
        loadConfig({ PORT: "http", DATABASE_URL: "mysql://x", LOG_LEVEL: "loud" });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigInvalid);
    const problems = (err as ConfigInvalid).problems.join("\n");
    expect(problems).toContain("PORT");
    expect(problems).toContain("DATABASE_URL");
    expect(problems).toContain("LOG_LEVEL");
  });

  test("production refuses the embedded defaults and a generated operator token", () => {
    expect(() => loadConfig({ APP_ENV: "production" })).toThrow(/DATABASE_URL[\s\S]*REDIS_URL[\s\S]*RAP_OPERATOR_TOKEN/);
    expect(
      loadConfig({ APP_ENV: "production", DATABASE_URL: "postgres://db/x", REDIS_URL: "redis://r", RAP_OPERATOR_TOKEN: "x".repeat(32) }).appEnv,
    ).toBe("production");
  });
});
