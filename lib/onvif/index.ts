/**
 * lib/onvif/ — the device side of ONVIF, shared by camsim's simulated cameras and central's
 * ONVIF bridge (central/onvif): SOAP 1.2 envelopes with a hardened reader and faults
 * (soap.ts), WS-Security UsernameToken and HTTP Digest verification (auth.ts), common response
 * fragments (responses.ts), WS-Discovery (discovery.ts) and PullPoint subscription queues
 * (pullpoint.ts). Owns no state beyond replay caches and those queues.
 */
export * from "./soap.ts";
export * from "./auth.ts";
export * from "./responses.ts";
export * from "./discovery.ts";
export * from "./pullpoint.ts";
