/**
 * central/fleet — vehicles on a map and by place: live positions (telemetry "position"), the
 * edges' kept tracks (cp_track chunks in the sites mirror, synced index-first), place-and-time
 * search, and geofences. Reads the sites mirror (central/sites); writes nothing but what its
 * routes are asked to. Must not import edge/.
 */
export { mountFleetRoutes, SearchBody, type FleetDeps } from "./api.ts";
export { FleetStore, footageOf, mergeTimes, type SiteVisits, type FootagePiece } from "./fleet.ts";
export { visits, pieceTouches, mergeChunks, type TrackPoint, type TimeRange } from "./visits.ts";
export { Geofences, GeofencePut } from "./geofences.ts";
export { mountFleetMapRoutes, type FleetMapDeps } from "./map-api.ts";
export { bestHolding, splitTrack, type TrackRun, type Holding } from "./track-holdings.ts";
export { TrackIndex, piecesOf, PIECE_SCHEMA } from "./pieces.ts";
