/**
 * edge/position — where the vehicle is: a gpsd client (JSON protocol, reconnect with backoff,
 * "no fix" / "no source" recorded as such), streaming track thinning that keeps the shape, the
 * track (journal under <dataDir>/track/ + `track_points` in the store's index) and the bounding
 * box of the track during each committed segment (`segment_bbox`).
 * Owns: <dataDir>/track/, the index tables track_points and segment_bbox. Must not touch:
 * segments or their index rows (lib/store), the outbox (edge/uplink).
 */
export { GpsdClient, parseGpsdLine, type Fix, type FixMode, type GpsdReport } from "./gpsd.ts";
export { TrackThinner, type ThinOptions } from "./thin.ts";
export { TrackStore, toTuple, fromTuple, type TrackTuple, type SegmentBox } from "./track.ts";
export { EdgePosition, PositionQuery, PositionOut, pointOut, type PositionConfig } from "./position.ts";
