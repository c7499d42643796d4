/**
 * Identity sources in headless Chromium against a real control-plane
 * process, a real OpenID Provider (`oidc-provider` under Node, with its own
 * login and consent pages: fixtures/oidc-provider.ts) and a real OpenLDAP
 * (`slapd`, fixtures/slapd.ts). An organization admin adds an OIDC and an
 * LDAP source on the org panel's Identity sources page (step-up prompt),
 * tests the connection, maps groups and syncs the directory; members sign in
 * on the access portal with "Sign in with <source>" through the provider's
 * pages and through the LDAP form, their accounts created just in time with
 * the mapped role; refused sign-ins show their stable code; the org panel
 * and the console show the same single sign-on section; with single sign-on
 * required, a member's password is refused with `auth.sso_required`.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { apiCall } from "../fixtures/api-client.ts";
import { TotpCodes } from "../fixtures/totp-codes.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { freePort, spawnControlPlane, type ControlPlaneProcess } from "../fixtures/process.ts";
import { freshDatabase, storeKind, type TestDatabase } from "../fixtures/stores.ts";
import { launchBrowser, type Browser, waitText } from "../fixtures/browser.ts";
import { startOidcProvider, type TestOidcProvider } from "../fixtures/oidc-provider.ts";
import { GROUPS_DN, groupDn, PEOPLE_DN, READER_DN, startSlapd, type TestSlapd } from "../fixtures/slapd.ts";
import { waitFor } from "../fixtures/wait.ts";

setDefaultTimeout(90_000);

const OWNER = { email: "owner@example.com", password: "correct horse battery staple" };
const ADMIN = { email: "admin@acme.example", password: "acme admin passphrase" };
const MEMBER = { email: "mia@acme.example", password: "acme member passphrase" };
const CALLBACK = "/api/v1/auth/sso/oidc/callback";

let dir: string;
let store: TestDatabase | undefined;
let cp: ControlPlaneProcess;
let idp: TestOidcProvider;
let ldap: TestSlapd;
let browser: Browser;
let admin: Page;
let ownerToken = "";
let orgId = "";
const totp = new TotpCodes();
let oidcId = "";
let ldapId = "";
/** Script errors, CSP violations and requests that left the control plane (or, from the provider's pages, the provider). */
const problems: string[] = [];

function api<T = Record<string, any>>(method: string, path: string, body?: unknown, token = ownerToken): Promise<T> {
  return apiCall<T>(cp.url, method, path, body, token);
}

async function go(p: Page, hash: string): Promise<void> {
  await p.evaluate((h) => (location.hash = h), hash);
}

/** Loads the page afresh (a new document, even when only the fragment differs). */
async function open(p: Page, path: string): Promise<void> {
  await p.goto("about:blank");
  await p.goto(`${cp.url}${path}`);
}

async function signOut(p: Page): Promise<void> {
  await go(p, "#/account");
  await p.getByTestId("sign-out").click();
  await p.getByTestId("sign-in-form").waitFor();
}

async function passwordSignIn(p: Page, who: { email: string; password: string }, code?: () => Promise<string>): Promise<void> {
  const form = p.getByTestId("sign-in-form");
  await form.locator("input[name=email]").fill(who.email);
  await form.locator("input[name=password]").fill(who.password);
  await form.locator("button[type=submit]").click();
  if (code) {
    await p.getByTestId("totp-field").waitFor({ state: "visible" });
    await form.locator("input[name=totp_code]").fill(await code());
    await form.locator("button[type=submit]").click();
  }
  await waitText(p.getByTestId("who"), who.email);
}

/** A member of the organization as the API answers it, by email. */
async function membership(email: string): Promise<{ role: string; status: string } | undefined> {
  const r = await api<{ items: { email: string; role: string; status: string }[] }>("GET", `/organizations/${orgId}/members`);
  return r.items.find((m) => m.email === email);
}

/**
 * "Sign in with Acme IdP" on the page, then the provider's own login and
 * consent pages (any password signs in as the account the login names).
 * The provider's cookies are cleared first so it asks again.
 */
async function throughProvider(p: Page, login: string): Promise<void> {
  await browser.context.clearCookies();
  await p.getByTestId(`sso-${oidcId}`).click();
  await p.waitForURL((u) => u.href.startsWith(`${idp.issuer}/interaction/`));
  await p.locator("input[name=login]").fill(login);
  await p.locator("input[name=password]").fill("any password at the test provider");
  await p.locator("button[type=submit]").click();
  // The consent page of the same interaction: the scopes the control plane asks for.
  await waitText(p.locator("h1"), "Authorize");
  expect(await p.locator("body").textContent()).toContain("groups");
  await p.locator("button[type=submit]").click();
  await p.waitForURL((u) => u.href.startsWith(cp.url));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-identity-browser-"));
  const port = await freePort();
  const env: Record<string, string> = {
    DATA_DIR: join(dir, "cp"),
    INSTALLATION_INSECURE_BOOTSTRAP_ENABLED: "true",
    TIMER_POLL_MS: "100",
    PORT: String(port),
  };
  if (storeKind === "postgres") {
    store = await freshDatabase({ migrated: false });
    env.DATABASE_URL = store.url!;
  }
  if (process.env.TEST_REDIS_URL) env.REDIS_URL = process.env.TEST_REDIS_URL;
  const person = (email: string, groups: string[], verified = true) => ({ claims: { email, email_verified: verified, name: email.split("@")[0], groups } });
  [cp, browser, idp, ldap] = await Promise.all([
    spawnControlPlane(env),
    launchBrowser(),
    startOidcProvider({
      redirectUri: `http://127.0.0.1:${port}${CALLBACK}`,
      interactive: true,
      accounts: {
        olga: person("olga@acme.example", ["engineers"]),
        sam: person("sam@acme.example", ["sales"]),
        dan: person("dan@acme.example", ["engineers"], false),
      },
    }),
    startSlapd(
      [
        { uid: "lena", mail: "lena@acme.example", password: "lena-directory-pass" },
        { uid: "lars", mail: "lars@acme.example", password: "lars-directory-pass" },
        { uid: "nils", mail: "nils@acme.example", password: "nils-directory-pass" },
      ],
      { dev: ["lena"], admins: ["lars"], sales: ["nils"] },
    ),
  ]);
  expect(cp.url).toBe(`http://127.0.0.1:${port}`);
  // The provider's pages import a web font: nothing leaves the machine.
  await browser.context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (r) => r.abort());
  browser.context.on("request", (r) => {
    const url = r.url();
    if (url.startsWith(`${cp.url}/`) || url.startsWith(`${idp.issuer}/`)) return;
    // Sub-resources of the provider's own pages (its font) are the provider's business, and are aborted above.
    if (r.frame().url().startsWith(`${idp.issuer}/`)) return;
    problems.push(`request to ${url}`);
  });
  browser.context.on("page", (p) => {
    p.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    p.on("console", (m) => {
      if (m.type() === "error" && /Content.Security.Policy|Refused to/i.test(m.text()) && p.url().startsWith(cp.url)) problems.push(`console: ${m.text()}`);
    });
  });

  await api("POST", "/installation/bootstrap-owner", { ...OWNER, display_name: "Olivia Owner" }, "");
  ownerToken = (await api<{ access_token: string }>("POST", "/auth/login", OWNER, "")).access_token;
  orgId = (await api("POST", "/organizations", { name: "Acme", slug: "acme" })).id;
  await api("POST", `/organizations/${orgId}/members`, { email: ADMIN.email, display_name: "Ada Admin", password: ADMIN.password, role: "org_admin" });
  await api("POST", `/organizations/${orgId}/members`, { email: MEMBER.email, display_name: "Mia Member", password: MEMBER.password, role: "org_member" });
  // The admin sets up their authenticator (as on the Account page): sources are changed with step-up.
  const adminToken = (await api<{ access_token: string }>("POST", "/auth/login", ADMIN, "")).access_token;
  totp.secret = (await api<{ secret: string }>("POST", "/auth/mfa/totp", undefined, adminToken)).secret;
  await api("POST", "/auth/mfa/totp/confirm", { code: await totp.next() }, adminToken);
  admin = await browser.context.newPage();
});

afterAll(async () => {
  await browser?.close();
  await idp?.stop();
  await ldap?.stop();
  await cp?.stop();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("the org panel's Identity sources page", () => {
  test("the admin signs in, trusts this browser and opens the page: no source yet", async () => {
    await admin.goto(`${cp.url}/org/`);
    await passwordSignIn(admin, ADMIN, () => totp.next());
    await go(admin, "#/account");
    await admin.getByTestId("trust-device").click();
    await waitText(admin.getByTestId("trusted-devices"), "browser");
    // A trusted browser signs in without a code; changing sources will ask for one (step-up).
    await signOut(admin);
    await passwordSignIn(admin, ADMIN);
    await go(admin, "#/identity");
    await waitText(admin.getByTestId("identity-sources"), "No identity source yet");
    expect(await admin.getByTestId("require-sso").isChecked()).toBe(false);
  });

  test("adds an OIDC source after the step-up prompt, tests its connection and maps a group", async () => {
    const form = admin.getByTestId("add-identity-source");
    await form.locator("select[name=kind]").selectOption("oidc");
    await form.locator("input[name=name]").fill("Acme IdP");
    await form.locator("textarea[name=config]").fill(
      JSON.stringify({
        issuer: idp.issuer,
        client_id: idp.clientId,
        redirect_uri: `${cp.url}${CALLBACK}`,
        scopes: ["openid", "email", "profile", "groups"],
        groups_claim: "groups",
      }),
    );
    await form.locator("input[name=secret]").fill(idp.clientSecret);
    await form.locator("button[type=submit]").click();
    await admin.getByTestId("step-up-dialog").waitFor();
    await admin.getByTestId("step-up-input").fill(await totp.next());
    await admin.getByTestId("step-up-submit").click();

    const row = admin.locator("[data-testid=identity-sources] tbody tr", { hasText: "Acme IdP" });
    await waitText(row, "oidc");
    oidcId = (await row.getAttribute("data-row"))!;
    const listed = await api<{ items: { id: string; name: string; kind: string; has_secret: boolean }[] }>("GET", `/organizations/${orgId}/identity-sources`);
    expect(listed.items).toEqual([expect.objectContaining({ id: oidcId, name: "Acme IdP", kind: "oidc", has_secret: true })]);
    // The secret went in once and is never shown.
    expect(await admin.content()).not.toContain(idp.clientSecret);

    await admin.getByTestId(`test-${oidcId}`).click();
    const result = await waitText(admin.getByTestId("identity-source-output"), "Test connection");
    expect(JSON.parse(result.slice(result.indexOf("{")))).toMatchObject({ ok: true, details: { issuer: idp.issuer, pkce_s256: true } });

    await admin.getByTestId(`mappings-${oidcId}`).click();
    const mappings = admin.getByTestId("mappings-form");
    await mappings.locator("textarea[name=mappings]").fill("engineers = org_operator");
    await mappings.locator("button[type=submit]").click();
    await waitText(row, "engineers → org_operator");
    const source = await api("GET", `/organizations/${orgId}/identity-sources/${oidcId}`);
    expect(source.mappings).toEqual([{ group: "engineers", role: "org_operator" }]);
  });

  test("adds an LDAP source, maps its groups and syncs it now: the last sync and the synced members show", async () => {
    const form = admin.getByTestId("add-identity-source");
    await form.locator("select[name=kind]").selectOption("ldap");
    await form.locator("input[name=name]").fill("Corp directory");
    await form.locator("textarea[name=config]").fill(
      JSON.stringify({
        url: ldap.ldapsUrl,
        security: "ldaps",
        tls_ca_pem: ldap.caPem,
        bind_dn: READER_DN,
        user_base_dn: PEOPLE_DN,
        group_base_dn: GROUPS_DN,
        sync_interval_seconds: 3600,
      }),
    );
    await form.locator("input[name=secret]").fill(ldap.readerPassword);
    await form.locator("button[type=submit]").click();
    const row = admin.locator("[data-testid=identity-sources] tbody tr", { hasText: "Corp directory" });
    await waitText(row, "ldap");
    ldapId = (await row.getAttribute("data-row"))!;
    expect(await row.textContent()).toContain("Sync now");

    await admin.getByTestId(`test-${ldapId}`).click();
    const tested = await waitText(admin.getByTestId("identity-source-output"), "Test connection");
    expect(JSON.parse(tested.slice(tested.indexOf("{")))).toMatchObject({ ok: true });

    await admin.getByTestId(`mappings-${ldapId}`).click();
    const mappings = admin.getByTestId("mappings-form");
    await mappings.locator("textarea[name=mappings]").fill(`${groupDn("dev")} = org_member\n${groupDn("admins")} = org_admin`);
    await mappings.locator("button[type=submit]").click();
    await waitText(row, `${groupDn("admins")} → org_admin`);
    expect(await row.textContent()).toContain(`${groupDn("dev")} → org_member`);

    await admin.getByTestId(`sync-${ldapId}`).click();
    const synced = await waitText(admin.getByTestId("identity-source-output"), "Sync");
    expect(JSON.parse(synced.slice(synced.indexOf("{")))).toMatchObject({ outcome: "success", people: 3, created: 2, refused: 1 });
    // The person in no mapped group is refused, not created.
    const lastSync = await waitText(row.locator("td").nth(4), "success");
    expect(lastSync).toContain("3 people, 2 created, 0 updated, 0 suspended, 1 refused");
    expect(await membership("lena@acme.example")).toMatchObject({ role: "org_member", status: "active" });
    expect(await membership("lars@acme.example")).toMatchObject({ role: "org_admin", status: "active" });
    expect(await membership("nils@acme.example")).toBeUndefined();
  });
});

describe("single sign-on on the sign-in pages", () => {
  let p: Page;

  beforeAll(async () => {
    p = await browser.context.newPage();
  });

  test("a member signs in with the OIDC source on the access portal (?org=acme) and is created just in time with the mapped role", async () => {
    await open(p, "/access/?org=acme");
    await waitText(p.getByTestId("sso-choices"), "Sign in with Acme IdP");
    expect(await p.getByTestId("sso-choices").textContent()).toContain("Sign in with Corp directory");
    expect(await p.getByTestId("sso-organization").inputValue()).toBe("acme");
    await throughProvider(p, "olga");
    await waitText(p.getByTestId("who"), "olga@acme.example");
    // The grant came in the fragment, which the page cleared.
    expect(new URL(p.url()).hash).not.toContain("sso=");
    expect(await membership("olga@acme.example")).toMatchObject({ role: "org_operator", status: "active" });
    await waitText(p.getByTestId("org-name"), "Acme");
  });

  test("a provider account in no mapped group is refused, and the page shows the code (organization typed in)", async () => {
    await signOut(p);
    await open(p, "/access/");
    await p.getByTestId("sso-organization").fill("Acme");
    await p.getByRole("button", { name: "Find sign-in options" }).click();
    await waitText(p.getByTestId("sso-choices"), "Sign in with Acme IdP");
    await throughProvider(p, "sam");
    const error = p.getByTestId("sso-error");
    expect(await waitText(error, "auth.sso_not_authorized")).toContain("not allowed into this organization");
    expect(await error.getAttribute("data-code")).toBe("auth.sso_not_authorized");
    await p.getByTestId("sign-in-form").waitFor();
    expect(await membership("sam@acme.example")).toBeUndefined();
  });

  test("a provider account whose email is not verified is refused with auth.sso_email_unverified", async () => {
    await open(p, "/access/?org=acme");
    await waitText(p.getByTestId("sso-choices"), "Sign in with Acme IdP");
    await throughProvider(p, "dan");
    expect(await waitText(p.getByTestId("sso-error"), "auth.sso_email_unverified")).toContain("has not verified your email");
    expect(await membership("dan@acme.example")).toBeUndefined();
  });

  test("a directory member signs in through the LDAP form; a wrong password and a person in no mapped group are refused", async () => {
    await open(p, "/access/?org=acme");
    await p.getByTestId(`sso-${ldapId}`).click();
    const form = p.getByTestId("sso-ldap");
    await form.locator("input[name=username]").fill("lena");
    await form.locator("input[name=password]").fill("not her password");
    await form.locator("button[type=submit]").click();
    const error = p.getByTestId("sso-error");
    await waitText(error, /\(auth\.\w+\)/);
    expect(await error.getAttribute("data-code")).toBe("auth.invalid_credentials");

    await form.locator("input[name=username]").fill("nils");
    await form.locator("input[name=password]").fill("nils-directory-pass");
    await form.locator("button[type=submit]").click();
    await waitText(error, "auth.sso_not_authorized");

    await form.locator("input[name=username]").fill("lena");
    await form.locator("input[name=password]").fill("lena-directory-pass");
    await form.locator("button[type=submit]").click();
    await waitText(p.getByTestId("who"), "lena@acme.example");
    expect(await membership("lena@acme.example")).toMatchObject({ role: "org_member", status: "active" });
    await signOut(p);
  });

  test("the org panel and the console show the same single sign-on section", async () => {
    await open(p, "/org/?org=acme");
    await waitText(p.getByTestId("sso-choices"), "Sign in with Acme IdP");
    expect(await p.getByTestId("sso-choices").textContent()).toContain("Sign in with Corp directory");

    await open(p, "/console/");
    await p.getByTestId("sso").waitFor();
    expect(await p.getByTestId("sso-choices").textContent()).toBe("");
    await p.getByTestId("sso-organization").fill("acme");
    await p.getByRole("button", { name: "Find sign-in options" }).click();
    await waitText(p.getByTestId("sso-choices"), "Sign in with Acme IdP");
    expect(await p.locator(`[data-testid=sso-${ldapId}]`).textContent()).toBe("Sign in with Corp directory");
    // An organization without sources says so.
    await p.getByTestId("sso-organization").fill("nobody-here");
    await p.getByRole("button", { name: "Find sign-in options" }).click();
    await waitText(p.getByTestId("sso-error"), "That organization has no single sign-on.");
    expect(await p.getByTestId("sso-choices").textContent()).toBe("");
    // Something that is not an organization's slug gets the API's refusal on the page, not a silent script error.
    await p.getByTestId("sso-organization").fill("Acme Corp");
    await p.getByRole("button", { name: "Find sign-in options" }).click();
    await waitText(p.getByTestId("sso-error"), "request.validation_failed");
    expect(await p.getByTestId("sso-error").getAttribute("data-code")).toBe("request.validation_failed");
  });
});

describe("require single sign-on", () => {
  test("switched on in the org panel, a member's password sign-in shows auth.sso_required", async () => {
    await admin.getByTestId("require-sso").check();
    await admin.waitForFunction(() => (document.querySelector("[data-testid=require-sso]") as HTMLInputElement | null)?.checked === true);
    await waitFor(async () => (await api<{ require_sso: boolean }>("GET", `/organizations/${orgId}/identity-sources`)).require_sso, {
      timeoutMs: 10_000,
      what: "require_sso on",
    });

    const p = await browser.context.newPage();
    await open(p, "/access/");
    const form = p.getByTestId("sign-in-form");
    await form.locator("input[name=email]").fill(MEMBER.email);
    await form.locator("input[name=password]").fill(MEMBER.password);
    await form.locator("button[type=submit]").click();
    const error = p.getByTestId("sign-in-error");
    expect(await waitText(error, "auth.sso_required")).toContain("requires single sign-on");
    expect(await error.getAttribute("data-code")).toBe("auth.sso_required");
    expect(await p.getByTestId("who").count()).toBe(0);
    // Single sign-on still works for the same organization.
    await open(p, "/access/?org=acme");
    await throughProvider(p, "olga");
    await waitText(p.getByTestId("who"), "olga@acme.example");
    await p.close();
  });
});

describe("the whole run", () => {
  test("the control plane's pages loaded everything from it, with no script error or CSP violation", () => {
    expect(problems).toEqual([]);
  });
});
