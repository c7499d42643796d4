/** Which source a sign-in attempt counts against. */
import { expect, test } from "../../fixtures/test.ts";
import { sourceOf } from "./throttle.ts";

test("IPv4 counts per address; IPv6 per /64, however it is written; IPv4-mapped IPv6 as IPv4", () => {
  expect(sourceOf("192.0.2.7")).toBe("192.0.2.7");
  expect(sourceOf("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
  expect(sourceOf("2001:DB8:1:2:bbbb:cccc:dddd:eeee")).toBe("2001:db8:1:2::/64");
  expect(sourceOf("2001:db8::1")).toBe("2001:db8:0:0::/64");
  expect(sourceOf("2001:db8:0:0:1::")).toBe("2001:db8:0:0::/64");
  expect(sourceOf("::1")).toBe("0:0:0:0::/64");
  expect(sourceOf("::ffff:198.51.100.4")).toBe("198.51.100.4");
  expect(sourceOf("2001:db8:1:3::1")).not.toBe(sourceOf("2001:db8:1:2::1"));
});
