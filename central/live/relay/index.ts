/**
 * central/live/relay/ — live across central nodes (docs/design/central-cluster.md, "Live video
 * across nodes"): the live_uplinks registry (uplinks.ts; migration 0009), each node's
 * certificate from central's CA (identity.ts), the internal mTLS listener that serves relays
 * (server.ts), the relay client feeding this node's hub (client.ts), and what CentralLive is
 * given to use them (cluster.ts). Only built when cluster.internalListen is configured: a
 * single node has no listener and no relay.
 */
export { LiveUplinks, type UplinkLocation } from "./uplinks.ts";
export { nodeIdentity, type NodeTls } from "./identity.ts";
export { startRelayListener, peerNode, type RelayListener } from "./server.ts";
export { openRelay, relayPath, type RelaySink } from "./client.ts";
export { liveCluster, type LiveCluster, type RelayHandle } from "./cluster.ts";
