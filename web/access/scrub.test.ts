/** Connection errors name the entry point, never its URL, host or address. */
import { expect, test } from "bun:test";
import { scrubEntryAddresses } from "./scrub.ts";

const entry = { name: "Frankfurt", urls: ["https://fra-1.access.example.com:4433/rap/v1", "https://[2001:db8::7]:4433/rap/v1"], certificate_hashes: [] };

test("URLs, host:port and bare hosts in a message become the entry point's name", () => {
  expect(scrubEntryAddresses("WebTransport to https://fra-1.access.example.com:4433/rap/v1 failed", entry)).toBe("WebTransport to Frankfurt failed");
  expect(scrubEntryAddresses("wss://fra-1.access.example.com:4433/rap/v1 refused", entry)).toBe("Frankfurt refused");
  expect(scrubEntryAddresses("tried https://[2001:db8::7]:4433/rap/v1", entry)).toBe("tried Frankfurt");
  expect(scrubEntryAddresses("no route to fra-1.access.example.com", entry)).toBe("no route to Frankfurt");
  expect(scrubEntryAddresses("timeout connecting to 2001:db8::7", entry)).toBe("timeout connecting to Frankfurt");
});

test("a message without an address is unchanged", () => {
  expect(scrubEntryAddresses("data-plane client not built yet", entry)).toBe("data-plane client not built yet");
  expect(scrubEntryAddresses("anything", { name: "X", urls: ["not a url"], certificate_hashes: [] })).toBe("anything");
});
