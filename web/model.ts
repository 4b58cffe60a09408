/**
 * The page's view of the server, the same for central and edge: sites, cameras, timelines.
 * Central lists sites and `<site>.<camera>` cameras; the edge is one site with local cameras.
 */
import { ROLE, get, getOptional } from "./api.ts";

export interface Grant {
  rights: string[];
  scope: string;
  maxPriority?: string;
}
export interface Me {
  user: string;
  roles: string[];
  grants: Grant[];
  expiresAt: string;
}

export interface Site {
  id: string;
  name: string;
  state: "active" | "revoked";
  online: boolean;
  lastSeenAt: string | null;
  certificate?: { notAfter: string; daysLeft: number; warning: boolean } | null;
  warnings?: string[];
  gps?: { lat: number; lon: number; at?: string } | null;
  health?: { disk?: { usedBytes?: number; totalBytes?: number; freeBytes?: number }; link?: { type?: string } } | null;
}

export interface StreamInfo {
  kind: "main" | "sub";
  status: string;
  codec?: string;
  width?: number;
  height?: number;
  reason?: string;
}
export interface Camera {
  id: string;
  name: string;
  siteId: string | null;
  online: boolean;
  /** Its site is revoked: no live view, nothing more from the edge; what central holds stays playable. */
  revoked?: boolean;
  streams: StreamInfo[];
}

export function can(me: Me | null, right: string, scope?: { site?: string | null; camera?: string }): boolean {
  if (ROLE === "edge") return true; // the edge has one local admin
  if (!me) return false;
  return me.grants.some(
    (g) =>
      g.rights.includes(right) &&
      (g.scope === "*" || !scope || (scope.site && g.scope === `site:${scope.site}`) || (scope.camera && g.scope === `camera:${scope.camera}`) || g.scope.startsWith("group:")),
  );
}

export const isAdmin = (me: Me | null) => ROLE === "central" && !!me && me.grants.some((g) => g.rights.some((r) => r.startsWith("admin-")));

type RawCentralCam = { id: string; siteId: string; name: string; online: boolean; revoked?: boolean; streams: { kind: string; status: string; codec?: string; width?: number; height?: number; reason?: string }[] };
type RawEdgeCam = { id: string; name: string; streams: { stream: string; status: string; codec?: string; width?: number; height?: number; reason?: string }[] };

/** null = this central has no camera list yet (the control plane is not mounted). */
export async function loadCameras(): Promise<Camera[] | null> {
  if (ROLE === "edge") {
    const r = await get<{ cameras: RawEdgeCam[] }>("/api/v1/cameras");
    return r.cameras.map((c) => ({
      id: c.id,
      name: c.name,
      siteId: null,
      online: c.streams.some((s) => s.status === "recording"),
      streams: c.streams.map((s) => ({ kind: s.stream as "main" | "sub", status: s.status, codec: s.codec, width: s.width, height: s.height, reason: s.reason })),
    }));
  }
  const r = await getOptional<{ cameras: RawCentralCam[] }>("/api/v1/cameras");
  if (!r) return null;
  return r.cameras.map((c) => ({ id: c.id, name: c.name, siteId: c.siteId, online: c.online, revoked: !!c.revoked, streams: c.streams.map((s) => ({ ...s, kind: s.kind as "main" | "sub" })) }));
}

export async function loadSites(): Promise<Site[]> {
  if (ROLE === "edge") {
    const h = await get<{ name?: string; time: string; disk?: { volumeTotalBytes?: number; volumeFreeBytes?: number } }>("/api/v1/health");
    const d = h.disk;
    const disk = d?.volumeTotalBytes ? { totalBytes: d.volumeTotalBytes, freeBytes: d.volumeFreeBytes, usedBytes: d.volumeTotalBytes - (d.volumeFreeBytes ?? 0) } : undefined;
    return [{ id: "local", name: h.name ?? "This recorder", state: "active", online: true, lastSeenAt: h.time, health: { disk } }];
  }
  return (await get<{ sites: Site[] }>("/api/v1/sites")).sites;
}

export type Held = "central" | "edge" | "both" | "local";
export interface TRange {
  startMs: number;
  endMs: number;
  held: Held;
  locked?: boolean;
}
export interface TGap {
  startMs: number;
  endMs: number;
  reason: string;
}
export interface TRetrieval {
  id: string;
  startMs: number;
  endMs: number;
  progress: number;
  state: string;
  etaSeconds?: number | null;
  priority?: string;
}
export interface Timeline {
  ranges: TRange[];
  gaps: TGap[];
  retrievals: TRetrieval[];
  /** Where central holds only the sub stream of this main-stream timeline (progressive retrieval). */
  subOnly?: { startMs: number; endMs: number }[];
}

export async function loadTimeline(cameraId: string, fromMs: number, toMs: number, stream = "main"): Promise<Timeline | null> {
  const qs = `from=${new Date(fromMs).toISOString()}&to=${new Date(toMs).toISOString()}&stream=${stream}`;
  const r = await getOptional<{ ranges: { start: string; end: string; held?: Held; locked?: boolean }[]; gaps: { start: string; end: string; reason: string; detail?: string }[]; centralQuality?: { start: string; end: string; quality: string }[] }>(
    `/api/v1/cameras/${encodeURIComponent(cameraId)}/timeline?${qs}`,
  );
  if (!r) return null;
  return {
    ranges: r.ranges.map((x) => ({ startMs: Date.parse(x.start), endMs: Date.parse(x.end), held: x.held ?? "local", locked: x.locked })),
    gaps: r.gaps.map((g) => ({ startMs: Date.parse(g.start), endMs: Date.parse(g.end), reason: g.detail ? `${g.reason}: ${g.detail}` : g.reason })),
    retrievals: [],
    subOnly: (r.centralQuality ?? []).filter((q) => q.quality === "sub").map((q) => ({ startMs: Date.parse(q.start), endMs: Date.parse(q.end) })),
  };
}
