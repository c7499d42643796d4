import { describe, expect, test } from "../fixtures/test.ts";
import { ConfigInvalid, loadConfig } from "./config.ts";

describe("config", () => {
  test("defaults serve the embedded store on loopback:8080", () => {
    expect(loadConfig({})).toMatchObject({
      host: "127.0.0.1",
      port: 8080,
      dataDir: ".data",
      databaseUrl: undefined,
      redisUrl: undefined,
      appEnv: "development",
    });
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

  const PROD = {
    APP_ENV: "production",
    DATABASE_URL: "postgres://db/x",
    REDIS_URL: "redis://r",
    INSTALLATION_PRODUCT_ROOT_PUBLIC_KEY_FILE: "/etc/rap/root.pub",
    SECRET_ENCRYPTION_KEY_FILE: "/etc/rap/secret.key",
    AUTH_TOKEN_KEY_FILE: "/etc/rap/token.key",
    DATA_PLANE_TOKEN_KEY_FILE: "/etc/rap/data-plane.key",
  };

  test("production starts only with strict authority, a Product Root key, a secret key and servers", () => {
    expect(loadConfig(PROD)).toMatchObject({ appEnv: "production", authority: { mode: "strict" } });
    for (const missing of Object.keys(PROD).filter((k) => k !== "APP_ENV")) {
      const env: Record<string, string> = { ...PROD };
      delete env[missing];
      expect(() => loadConfig(env)).toThrow(new RegExp(missing.replace(/_FILE$/, "")));
    }
    expect(() => loadConfig({ ...PROD, INSTALLATION_AUTHORITY_MODE: "dev" })).toThrow(/production requires strict/);
  });

  test("strict mode needs the Product Root key and forbids insecure bootstrap", () => {
    expect(() => loadConfig({ INSTALLATION_AUTHORITY_MODE: "strict" })).toThrow(/PRODUCT_ROOT_PUBLIC_KEY/);
    expect(() =>
      loadConfig({ INSTALLATION_AUTHORITY_MODE: "strict", INSTALLATION_PRODUCT_ROOT_PUBLIC_KEY_B64: "x", INSTALLATION_INSECURE_BOOTSTRAP_ENABLED: "true" }),
    ).toThrow(/not allowed in strict mode/);
    expect(loadConfig({}).authority).toEqual({ mode: "dev", productRootKey: { b64: undefined, file: undefined }, insecureBootstrap: false });
  });
});
