/**
 * The vehicle's track of an exported window as sidecars beside the footage in an evidence
 * package: WebVMT (W3C Web Video Map Tracks: cues timed from the start of the video, `moveto`
 * at the first fix and after every stretch without one, `lineto` for the rest, so a player
 * draws the path in step with `footage.mp4`) and GPX 1.1 (a `trkseg` per stretch with fixes, for
 * GIS tools). A point without a fix (tunnel, receiver off) is never drawn through: it ends the
 * path piece / track segment. Points are [atMs, mode, lat, lon, speed, heading], mode 0 = no
 * source, 1 = no fix, 2 = 2D, 3 = 3D (edge/position).
 */

export type SidecarPoint = [number, number, number | null, number | null, number | null, number | null];

export interface SidecarMeta {
  /** The window's start: WebVMT cue times are offsets from it (the video's first frame). */
  fromMs: number;
  toMs: number;
  /** e.g. "bus-17 cam1 (main)". */
  title: string;
  /** The video the cues are synchronised with (path inside the package), if any. */
  media?: string;
}

const hasFix = (p: SidecarPoint): p is [number, number, number, number, number | null, number | null] => p[1] >= 2 && p[2] !== null && p[3] !== null;

/** hh:mm:ss.ttt from the window start (WebVTT timestamp syntax, which WebVMT uses); before the start clamps to 0. */
export function cueTime(ms: number): string {
  const t = Math.max(0, Math.round(ms));
  const h = Math.floor(t / 3_600_000);
  const m = Math.floor((t % 3_600_000) / 60_000);
  const s = Math.floor((t % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(t % 1000, 3)}`;
}

/** WebVMT text: a header block, MEDIA (start time and the synchronised file), then one cue per kept point. */
export function toWebVmt(points: readonly SidecarPoint[], meta: SidecarMeta): string {
  const lines = ["WEBVMT", "", `NOTE ${meta.title.replace(/\s+/g, " ")}: vehicle track from the edge's position source (kept points; no line is drawn where there was no fix)`, ""];
  lines.push("MEDIA", ...(meta.media ? [`url:${meta.media}`, "mimetype:video/mp4"] : []), `start:${new Date(meta.fromMs).toISOString()}`, "path:vehicle", "");
  const fixes = points.filter(hasFix);
  if (fixes.length) {
    const lats = fixes.map((p) => p[2]);
    const lons = fixes.map((p) => p[3]);
    lines.push("MAP", `lat:${((Math.min(...lats) + Math.max(...lats)) / 2).toFixed(7)}`, `lng:${((Math.min(...lons) + Math.max(...lons)) / 2).toFixed(7)}`, "rad:500", "");
  }
  let drawing = false;
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    const next = points[i + 1];
    const start = cueTime(p[0] - meta.fromMs);
    const end = next ? ` ${cueTime(next[0] - meta.fromMs)}` : "";
    if (!hasFix(p)) {
      if (drawing) lines.push(`NOTE no fix from ${new Date(p[0]).toISOString()}`, "");
      drawing = false;
      continue;
    }
    const at = { lat: p[2], lng: p[3], path: "vehicle" };
    const cmd = drawing ? { lineto: at } : { moveto: at };
    // Speed and heading as WebVMT sync data (an application-defined type), so a player can show them.
    const sync = p[4] !== null || p[5] !== null ? [{ sync: { type: "org.outpost.vehicle", id: "vehicle", data: { ...(p[4] !== null ? { speedMps: p[4] } : {}), ...(p[5] !== null ? { headingDeg: p[5] } : {}) } } }] : [];
    lines.push(`${start} -->${end}`, ...[cmd, ...sync].map((c) => JSON.stringify(c)), "");
    drawing = true;
  }
  return lines.join("\n");
}

const xml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** GPX 1.1: one track, a segment per stretch of fixes. */
export function toGpx(points: readonly SidecarPoint[], meta: SidecarMeta): string {
  const segs: SidecarPoint[][] = [];
  let cur: SidecarPoint[] | null = null;
  for (const p of points) {
    if (!hasFix(p)) {
      cur = null;
      continue;
    }
    if (!cur) segs.push((cur = []));
    cur.push(p);
  }
  const out = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<gpx version="1.1" creator="Outpost" xmlns="http://www.topografix.com/GPX/1/1">`,
    `  <metadata><name>${xml(meta.title)}</name><time>${new Date(meta.fromMs).toISOString()}</time></metadata>`,
    `  <trk><name>${xml(meta.title)}</name>`,
  ];
  for (const s of segs) {
    out.push("    <trkseg>");
    for (const p of s) out.push(`      <trkpt lat="${p[2]!.toFixed(7)}" lon="${p[3]!.toFixed(7)}"><time>${new Date(p[0]).toISOString()}</time>${p[1] === 2 ? "<fix>2d</fix>" : "<fix>3d</fix>"}</trkpt>`);
    out.push("    </trkseg>");
  }
  out.push("  </trk>", "</gpx>", "");
  return out.join("\n");
}
