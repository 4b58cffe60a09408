/**
 * edge/events — what the edge tells central happened: ONVIF camera events (PullPoint:
 * motion, digital inputs, other topics), camera online/offline from ingest state (debounced),
 * disk full/ok, plus the forwarding of the edge's own warnings/errors to central's system log.
 * Every event is kept in a local rotating JSONL log (GET /api/v1/events on the edge API) and
 * handed to the uplink's durable outbox with a unique id and the host time it was observed.
 * Owns: <dataDir>/events/. Must not touch: the outbox or MQTT (edge/uplink), ingest
 * (edge/ingest), the store (lib/store), camera resolution (edge/camera).
 */
export { startEdgeEvents, type EdgeEvents, type EdgeEventsDeps, type EventCamera, type NewEvent } from "./events.ts";
export { EventLog, type EdgeEventRecord, type EventLogOptions } from "./log.ts";
export { OnvifEventListener, mapNotification, notifications, type ObservedEvent, type OnvifEventTarget, type OnvifListenerOptions } from "./onvif.ts";
export { CameraStateWatcher, DiskWatcher, observe, type CameraState, type DiskState } from "./state.ts";
export { UplinkLogSink } from "./forward.ts";
export { EventQuery, EventOut, EventList } from "./schemas.ts";
