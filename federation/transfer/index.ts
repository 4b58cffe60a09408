/**
 * federation/transfer/: the transfer contract between edge and central — recording-option
 * policies and link profiles (policy.ts), the resumable chunked upload protocol (protocol.ts),
 * and a TCP link emulator for tests and benchmarks (testkit.ts, not imported here). Imports
 * only zod and Bun built-ins; never edge/ or central/. Design: docs/design/transfer.md.
 */
export * from "./policy.ts";
export * from "./protocol.ts";
