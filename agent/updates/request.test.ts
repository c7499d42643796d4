import { describe, expect, test } from "../../fixtures/test.ts";
import { ANSWERED_KEPT, decideOffer, formatDesired, parseDesired, withAnswered } from "./request.ts";
import { healthVerdict } from "./updater.ts";

const offer = { request_id: "req-1", version: "2.0.0", sources: ["http://cache.example:8088", "https://releases.example"] };
const base = { offer, answered: new Set<string>(), current: "1.0.0", busy: false, pending: undefined };

describe("the control plane's update request (heartbeat answer)", () => {
  test("a new request becomes the desired update, with its sources replacing the configured ones", () => {
    expect(decideOffer(base)).toEqual({ kind: "desire", desired: { version: "2.0.0", requestId: "req-1", sources: offer.sources } });
  });

  test("no request, or null: nothing is asked", () => {
    expect(decideOffer({ ...base, offer: null }).kind).toBe("ignore");
    expect(decideOffer({ ...base, offer: undefined }).kind).toBe("ignore");
  });

  test("an answered request id is never tried again, whatever became of it", () => {
    expect(decideOffer({ ...base, answered: new Set(["req-1"]) })).toEqual({ kind: "ignore", why: "already answered" });
    // The same version under a new id is a new decision of the control plane: tried.
    expect(decideOffer({ ...base, answered: new Set(["req-1"]), offer: { ...offer, request_id: "req-2" } }).kind).toBe("desire");
  });

  test("a request for the version that already runs is answered at once", () => {
    expect(decideOffer({ ...base, current: "2.0.0" })).toEqual({ kind: "answer_now" });
  });

  test("while an update is under way, or an operator's request on the node is pending, the request waits", () => {
    expect(decideOffer({ ...base, busy: true }).kind).toBe("ignore");
    expect(decideOffer({ ...base, pending: { version: "3.0.0" } })).toMatchObject({ kind: "ignore", why: expect.stringContaining("operator") });
  });

  test("a newer control-plane request replaces an older one still pending; the same one is not written again", () => {
    expect(decideOffer({ ...base, pending: { version: "1.5.0", requestId: "req-0" } }).kind).toBe("desire");
    expect(decideOffer({ ...base, pending: { version: "2.0.0", requestId: "req-1" } }).kind).toBe("ignore");
  });

  test("no sources: the configured ones (RAP_UPDATE_SOURCES) stay; a malformed version or source is not taken", () => {
    expect(decideOffer({ ...base, offer: { ...offer, sources: [] } })).toEqual({ kind: "desire", desired: { version: "2.0.0", requestId: "req-1" } });
    expect(decideOffer({ ...base, offer: { ...offer, version: "2.0.0-rc1" } }).kind).toBe("ignore");
    expect(decideOffer({ ...base, offer: { ...offer, request_id: "" } }).kind).toBe("ignore");
    expect(decideOffer({ ...base, offer: { ...offer, request_id: "r".repeat(201) } }).kind).toBe("ignore");
    expect(decideOffer({ ...base, offer: { ...offer, sources: ["not a url", "https://ok.example"] } })).toMatchObject({
      desired: { sources: ["https://ok.example"] },
    });
  });
});

describe("the desired file", () => {
  test("an operator's line and a control-plane request both read back as written", () => {
    expect(parseDesired(formatDesired({ version: "2.0.0" }))).toEqual({ version: "2.0.0" });
    expect(formatDesired({ version: "2.0.0" })).toBe("2.0.0\n");
    const d = { version: "2.0.0", requestId: "req-1", sources: ["https://releases.example"] };
    expect(parseDesired(formatDesired(d))).toEqual(d);
  });

  test("anything else is no request", () => {
    for (const text of ["", "latest", "{", '{"version":"2"}', '{"version":"2.0.0","extra":1}', '{"version":"2.0.0","sources":["x"]}'])
      expect(parseDesired(text)).toBeUndefined();
  });

  test("answered ids keep the newest, once each", () => {
    let ids: string[] = [];
    for (let i = 0; i < ANSWERED_KEPT + 5; i++) ids = withAnswered(ids, `r${i}`);
    ids = withAnswered(ids, "r10");
    expect(ids).toHaveLength(ANSWERED_KEPT);
    expect(ids.at(-1)).toBe("r10");
    expect(ids.filter((x) => x === "r10")).toHaveLength(1);
    expect(ids).not.toContain("r0");
  });
});

describe("the health check of a version on trial", () => {
  const deadline = 1000;
  test("healthy once the control plane answered and every workload reported healthy", () => {
    expect(healthVerdict("3.0.0", true, [{ role: "video-relay", health: "healthy" }], deadline, 10)).toBe("healthy");
    expect(healthVerdict("3.0.0", true, [], deadline, 10)).toBe("healthy");
    expect(healthVerdict("3.0.0", true, [{ role: "video-relay", health: "pending" }], deadline, 10)).toBe("wait");
    expect(healthVerdict("3.0.0", false, [{ role: "video-relay", health: "healthy" }], deadline, 10)).toBe("wait");
  });

  test("a workload that exits fails the update at once, named in the reason", () => {
    const v = healthVerdict("3.0.0", true, [{ role: "video-relay", health: "failed", detail: "exited with code 3" }], deadline, 10);
    expect(v).toEqual({ reason: "workload video-relay of 3.0.0 exited with code 3 during the health check" });
  });

  test("past the window, what is missing is named", () => {
    expect(healthVerdict("3.0.0", true, [{ role: "video-relay", health: "pending" }], deadline, 2000)).toEqual({
      reason: "workload video-relay of 3.0.0 did not report healthy within the health window",
    });
    expect(healthVerdict("3.0.0", false, [], deadline, 2000)).toEqual({ reason: "3.0.0 did not reach the control plane in time" });
  });
});
