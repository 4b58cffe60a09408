/**
 * lib/live/ — live video shared by edge and central: LiveHub (fan-out of one camera stream to
 * many viewers with GOP cache and cut-forward of slow viewers), the WebSocket fMP4 viewer
 * protocol, the LL-HLS packager, and the framing of the edge → central live uplink.
 * Protocols are documented in lib/live/PROTOCOL.md. Knows nothing about cameras, sites,
 * users or transport security; must not import edge/ or central/.
 */
export { LiveHub, sameBytes, type LiveFragment, type LiveInit, type ViewerSink, type ViewerStats, type HubOptions, type HubEvent } from "./hub.ts";
export { HlsPackager, type HlsOptions } from "./hls.ts";
export { liveSocketEvents, bunSocketSink, type LiveSocketOptions } from "./ws.ts";
export { encodeFrame, FrameReader, WireError, FRAME_INIT, FRAME_FRAGMENT, FRAME_PING, MAX_FRAME, type Frame } from "./wire.ts";
export { LiveHubs } from "./hubs.ts";
