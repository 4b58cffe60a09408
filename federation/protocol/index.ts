/**
 * federation/protocol/: the control-plane contract between edge and central — MQTT topic tree
 * and versioned message schemas. Imports only zod and federation/identity.ts; never edge/ or
 * central/. Reference: docs/ref/federation.md.
 */
export * from "./topics.ts";
export * from "./messages.ts";
export * from "./digest.ts";
