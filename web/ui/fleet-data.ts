/** The fleet API as the map, the search panel and playback's position panel use it (central only). */
import { api, get, q } from "../api.ts";
import type { Holding, VehicleState } from "./leaflet-map.ts";

export interface MapSettings {
  tileUrl: string | null;
  attribution: string;
}
export interface VehiclePos {
  siteId: string;
  name: string;
  state: VehicleState;
  online: boolean;
  offlineSince?: string | null;
  vehicle: string | null;
  position: { time: string; fix: string; lat?: number; lon?: number; speedMps?: number; headingDeg?: number } | null;
  /** When the vehicle last finished a depot offload (central/transfer/offload.ts); null: never. */
  lastOffloadAt?: string | null;
}
/** [atMs, lat, lon, speedMps, headingDeg] */
export type RunPoint = [number, number, number, number | null, number | null];
export interface TrackRun {
  from: string;
  to: string;
  at: Holding;
  points: RunPoint[];
}
export type Area = { circle: { lat: number; lon: number; radiusM: number } } | { polygon: { lat: number; lon: number }[] };
export interface SearchResult {
  siteId: string;
  siteName: string;
  cameraId: string;
  cameraName: string;
  stream: "main" | "sub";
  from: string;
  to: string;
  footage: { from: string; to: string; at: Holding }[];
}
export interface TrackPoint {
  time: string;
  fix: string;
  lat?: number;
  lon?: number;
  speedMps?: number;
  headingDeg?: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

export const loadMapSettings = () => get<MapSettings>("/api/v1/fleet/map");
export const loadPositions = () => get<{ vehicles: VehiclePos[] }>("/api/v1/fleet/positions").then((r) => r.vehicles);
export const loadTrackRuns = (siteId: string, fromMs: number, toMs: number, camera?: string) =>
  get<{ runs: TrackRun[]; cameras: string[] }>(`/api/v1/sites/${encodeURIComponent(siteId)}/track-footage?${q({ from: iso(fromMs), to: iso(toMs), camera })}`);
export const loadTrack = (siteId: string, fromMs: number, toMs: number) => get<{ points: TrackPoint[] }>(`/api/v1/sites/${encodeURIComponent(siteId)}/track?${q({ from: iso(fromMs), to: iso(toMs) })}`).then((r) => r.points);
export const searchArea = (area: Area, fromMs: number, toMs: number) => api<{ vehicles: string[]; results: SearchResult[] }>("POST", "/api/v1/fleet/search", { area, from: iso(fromMs), to: iso(toMs) });

/** The link to playback of a camera at a moment, playing at once (central fetches edge-only footage first). */
export const playbackAt = (cameraId: string, ms: number) => `/playback?${q({ camera: cameraId, t: iso(ms), play: 1 })}`;

export const kmh = (mps: number | undefined | null) => (mps == null ? "—" : `${Math.round(mps * 3.6)} km/h`);
const COMPASS = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
export const compass = (deg: number | undefined | null) => (deg == null ? "—" : `${Math.round(deg)}° ${COMPASS[Math.round(((deg % 360) + 360) / 45) % 8]}`);
