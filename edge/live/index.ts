/**
 * edge/live/ — live video at the edge: hubs fed from the ingest's onFragment (one camera
 * connection feeds recording and live; stream copy), local WebSocket/LL-HLS endpoints for
 * on-site viewing, and outbound live uplinks to central on request (UplinkSender, chunked
 * HTTP POST over mTLS; lib/live/PROTOCOL.md). Must not touch ingest, the store, edge/api
 * internals or edge/uplink (central's requests arrive through EdgeLive.command).
 */
export { EdgeLive, type EdgeLiveOptions, type UplinkTarget } from "./live.ts";
export { UplinkSender, type SenderStats, type SenderOptions, type SenderTls } from "./sender.ts";
export { listenLiveRequests, type LiveMqttIdentity } from "./mqtt.ts";
