/**
 * The channel-class list exists twice, in the Rust crate (class.rs `ALL`,
 * which fixes the wire ids) and in core/contracts/channel-classes.ts (which
 * the routing engine, control plane, agent and this wrapper use); this fails
 * when they differ.
 */
import { expect, test } from "../../fixtures/test.ts";
import { CHANNEL_CLASSES, channelClasses } from "./index.ts";

test("the Rust crate and the TypeScript wrapper list the same channel classes in wire order", () => {
  expect(channelClasses()).toEqual([...CHANNEL_CLASSES]);
});
