/**
 * edge/uplink/: the edge side of the control plane — durable outbox, MQTT link, index-first
 * sync, device tree, health, desired config and commands. Talks to central only through
 * federation/protocol; reads the media store (lib/store) but never writes media. Must not
 * import central/, edge/main.ts internals, ingest or the edge API.
 */
export { startUplink, type Uplink, type UplinkDeps, type UplinkCamera, type UplinkStream, type UplinkIdentity, type UplinkStatus, type EdgeEvent, type TelemetryPoint } from "./uplink.ts";
export { Outbox, type OutboxEntry, type OutboxOptions } from "./outbox.ts";
export type { AppliedConfig, ApplyConfig, CommandHandler } from "./control.ts";
