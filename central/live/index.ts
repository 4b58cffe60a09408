/**
 * central/live/ — live relay at central: receives edge uplinks (federation route, mTLS; one
 * per camera stream) into lib/live hubs, serves viewers (WebSocket fMP4, LL-HLS), asks edges
 * for streams on demand (LiveRequester: MQTT topic or the control-plane command path), counts
 * live bytes per site, records from live into a central MediaStore (recordLive), and re-serves
 * live cameras as RTSP. Must not import edge/; does not own users/rights (its routes declare
 * view-live rules that central's router enforces)
 * nor the site registry (gets siteExists/cameraExists/linkOf).
 *
 * Wiring (central/compose.ts): const live = new CentralLive({...}); startCentral(cfg, { federationRoutes:
 * live.federationRoutes, apiRoutes: (api) => live.apiRoutes(api), websocket });
 */
export { CentralLive, type CentralLiveOptions, type LiveRequester, type FeedStats, type StreamKind } from "./live.ts";
export { mqttRequester, commandRequester } from "./request.ts";
export { LiveRecorder } from "./recorder.ts";
