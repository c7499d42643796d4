/**
 * The channel-class list exists twice, in the Rust crate (class.rs `ALL`,
 * which fixes the wire ids) and in the wrapper (`CHANNEL_CLASSES`, which the
 * agent, control plane and core use); this fails when they differ.
 */
import { expect, test } from "bun:test";
import { CHANNEL_CLASSES, channelClasses } from "./index.ts";

test("the Rust crate and the TypeScript wrapper list the same channel classes in wire order", () => {
  expect(channelClasses()).toEqual([...CHANNEL_CLASSES]);
});
