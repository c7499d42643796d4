/** A failed connection reads as one line naming the entry point, never its URL, host or address. */
import { expect, test } from "../../fixtures/test.ts";
import { connectErrorMessage, scrubEntryAddresses } from "./connect-error.ts";

const entry = { name: "Frankfurt", urls: ["https://fra-1.access.example.com:4433/rap/v1", "https://[2001:db8::7]:4433/rap/v1"], certificate_hashes: [] };

test("URLs, their wss: form, host:port and bare hosts in a message become the entry point's name", () => {
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

test("an Error, an error event, or an object carrying one reads as one line", () => {
  const event = {
    code: "data_plane.token_replayed",
    message_key: "k",
    fallback_message: "The connection token was already used. Connect again.",
    details: {},
    trace_id: "t",
  };
  expect(connectErrorMessage(new Error("failed: https://fra-1.access.example.com:4433/rap/v1"), entry)).toBe("failed: Frankfurt");
  expect(connectErrorMessage(event, entry)).toBe("The connection token was already used. Connect again. (data_plane.token_replayed)");
  expect(connectErrorMessage(Object.assign(new Error("refused"), { error: event }), entry)).toBe(
    "The connection token was already used. Connect again. (data_plane.token_replayed)",
  );
  expect(connectErrorMessage("plain", entry)).toBe("plain");
});
