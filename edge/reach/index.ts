/**
 * edge/reach/: is central reachable again? One probe shared by everything that talks to central
 * (the MQTT link, transfers, live uplinks), so they all resume from one signal the moment the
 * link is usable instead of each waiting out its own backoff, connect timeout or TCP
 * retransmission timer. Owns only the probe; the components decide what to restart.
 *
 * Wiring (edge/main.ts): const reach = new Reachability({ url: identity.federationUrl, log });
 *   startUplink({..., reach}); startEdgeTransfer({..., reach}); live.setUplinkTarget({..., reach}).
 */
export { Reachability, type ReachabilityOptions, type ReachUp } from "./reach.ts";
