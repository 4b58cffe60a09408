/**
 * lib/onvif/ — the device side of ONVIF, shared by camsim's simulated cameras and central's
 * ONVIF bridge (central/onvif): SOAP 1.2 envelopes with a hardened reader and faults
 * (soap.ts), WS-Security UsernameToken and HTTP Digest verification (auth.ts), common response
 * fragments (responses.ts) and WS-Discovery (discovery.ts). Owns no state beyond replay caches.
 */
export * from "./soap.ts";
export * from "./auth.ts";
export * from "./responses.ts";
export * from "./discovery.ts";
