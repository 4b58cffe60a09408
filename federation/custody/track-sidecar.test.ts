import { expect, test } from "bun:test";
import fc from "fast-check";
import { readZip } from "../../lib/zip/index.ts";
import { buildPackage, sha256Hex, unknownRevocations, type Manifest } from "./index.ts";
import { cueTime, toGpx, toWebVmt, type SidecarPoint } from "./track-sidecar.ts";

const T0 = Date.UTC(2026, 11, 3, 14, 0, 0);

/** GPX read back with Bun's HTMLRewriter (a streaming markup parser): version, track name, segments of points. */
async function parseGpx(text: string): Promise<{ version: string | null; name: string; segs: { lat: number; lon: number; time: string }[][] }> {
  const out = { version: null as string | null, name: "", segs: [] as { lat: number; lon: number; time: string }[][] };
  let inTrkName = false;
  let inTime = false;
  await new HTMLRewriter()
    .on("gpx", { element: (e) => void (out.version = e.getAttribute("version")) })
    .on("trk > name", { element: () => void (inTrkName = true), text: (t) => void (inTrkName && (out.name += t.text), t.lastInTextNode && (inTrkName = false)) })
    .on("trkseg", { element: () => void out.segs.push([]) })
    .on("trkpt", { element: (e) => void out.segs.at(-1)!.push({ lat: Number(e.getAttribute("lat")), lon: Number(e.getAttribute("lon")), time: "" }) })
    .on("trkpt > time", { element: () => void (inTime = true), text: (t) => void (inTime && (out.segs.at(-1)!.at(-1)!.time += t.text), t.lastInTextNode && (inTime = false)) })
    .transform(new Response(text))
    .text();
  out.name = out.name.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&amp;/g, "&");
  return out;
}

/** A reader for what toWebVmt writes: cues (start, end, commands) after the header blocks. */
function parseWebVmt(text: string): { start: string | null; media: string | null; cues: { fromMs: number; toMs: number | null; cmds: Record<string, any>[] }[] } {
  const blocks = text.split(/\n\n+/);
  if (blocks[0] !== "WEBVMT") throw new Error("not WebVMT");
  const ms = (t: string) => {
    const m = /^(\d{2}):(\d{2}):(\d{2})\.(\d{3})$/.exec(t);
    if (!m) throw new Error(`bad cue time ${t}`);
    return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]);
  };
  let start: string | null = null;
  let media: string | null = null;
  const cues = [];
  for (const b of blocks.slice(1)) {
    const lines = b.split("\n").filter(Boolean);
    if (!lines.length || lines[0]!.startsWith("NOTE")) continue;
    if (lines[0] === "MEDIA") {
      for (const l of lines) if (l.startsWith("start:")) start = l.slice(6);
      for (const l of lines) if (l.startsWith("url:")) media = l.slice(4);
      continue;
    }
    if (lines[0] === "MAP") continue;
    const m = /^(\S+) -->(?: (\S+))?$/.exec(lines[0]!);
    if (!m) throw new Error(`not a cue: ${lines[0]}`);
    cues.push({ fromMs: ms(m[1]!), toMs: m[2] ? ms(m[2]) : null, cmds: lines.slice(1).map((l) => JSON.parse(l) as Record<string, any>) });
  }
  return { start, media, cues };
}

const drive: SidecarPoint[] = [
  [T0 - 5000, 3, 47.37, 8.54, 10, 0],
  [T0 + 10_000, 3, 47.371, 8.54, 12, 0],
  [T0 + 20_000, 1, null, null, null, null], // tunnel
  [T0 + 40_000, 2, 47.372, 8.541, 8, 90],
  [T0 + 70_000, 3, 47.372, 8.545, 0, 90],
];

test("WebVMT: cues timed from the window start, moveto after a stretch without fix, lineto otherwise; speed and heading as sync data", () => {
  const v = parseWebVmt(toWebVmt(drive, { fromMs: T0, toMs: T0 + 60_000, title: "bus-1 door (main)", media: "footage.mp4" }));
  expect(v.start).toBe(new Date(T0).toISOString());
  expect(v.media).toBe("footage.mp4");
  expect(v.cues.map((c) => Object.keys(c.cmds[0]!)[0])).toEqual(["moveto", "lineto", "moveto", "lineto"]);
  expect(v.cues[0]!.fromMs).toBe(0); // before the window clamps to its start
  expect(v.cues[1]!).toMatchObject({ fromMs: 10_000, toMs: 20_000 });
  expect(v.cues[2]!.cmds[0]!.moveto).toEqual({ lat: 47.372, lng: 8.541, path: "vehicle" });
  expect(v.cues[2]!.cmds[1]!.sync.data).toEqual({ speedMps: 8, headingDeg: 90 });
  expect(v.cues[3]!.toMs).toBeNull(); // the last cue is open-ended
});

test("GPX 1.1: a segment per stretch with fixes, times and coordinates as recorded", async () => {
  const g = await parseGpx(toGpx(drive, { fromMs: T0, toMs: T0 + 60_000, title: "bus <1> & co" }));
  expect(g.version).toBe("1.1");
  expect(g.name).toBe("bus <1> & co");
  expect(g.segs.map((s) => s.length)).toEqual([2, 2]);
  expect(g.segs[1]![0]!.lat).toBe(47.372);
  expect(Date.parse(g.segs[1]![1]!.time)).toBe(T0 + 70_000);
});

test("property: every point with a fix comes back from both sidecars, in order, to 1e-7 degrees; no line crosses a point without one", async () => {
  const point = fc.tuple(fc.integer({ min: 1, max: 60_000 }), fc.constantFrom(0, 1, 2, 3), fc.double({ min: -89, max: 89, noNaN: true }), fc.double({ min: -179, max: 179, noNaN: true }));
  await fc.assert(
    fc.asyncProperty(fc.array(point, { maxLength: 40 }), async (raw) => {
      let t = T0;
      const pts: SidecarPoint[] = raw.map(([dt, mode, lat, lon]) => [(t += dt), mode, mode >= 2 ? lat : null, mode >= 2 ? lon : null, null, null]);
      const fixes = pts.filter((p) => p[1] >= 2);
      const v = parseWebVmt(toWebVmt(pts, { fromMs: T0, toMs: t, title: "x" }));
      expect(v.cues.length).toBe(fixes.length);
      v.cues.forEach((c, i) => {
        const cmd = c.cmds[0]!.moveto ?? c.cmds[0]!.lineto;
        expect(Math.abs(cmd.lat - fixes[i]![2]!)).toBeLessThan(1e-9);
        expect(c.fromMs).toBe(fixes[i]![0] - T0);
        const prev = pts[pts.indexOf(fixes[i]!) - 1];
        expect(!!c.cmds[0]!.lineto).toBe(!!prev && prev[1] >= 2); // lineto only straight after a fix
      });
      const back = (await parseGpx(toGpx(pts, { fromMs: T0, toMs: t, title: "x" }))).segs.flat();
      expect(back.length).toBe(fixes.length);
      back.forEach((b, i) => expect(Math.abs(b.lon - fixes[i]![3]!)).toBeLessThanOrEqual(5e-8 + 1e-12));
    }),
    { numRuns: 100 },
  );
});

test("cue times: hh:mm:ss.ttt, never negative", () => {
  expect(cueTime(3_723_004)).toBe("01:02:03.004");
  expect(cueTime(-10)).toBe("00:00:00.000");
});

test("an evidence package with a track lists position.vmt and position.gpx in its manifest with their SHA-256; without one, position.json says so", () => {
  const base = { siteId: "bus-1", cameraId: "door", stream: "main" as const, chain: "c:door/main", fromMs: T0, toMs: T0 + 60_000, segments: [], entries: [], signatures: [], certs: new Map(), caPem: "", revocations: unknownRevocations(T0, "test"), audit: { exportedBy: "admin", exportedAtMs: T0, exportedAt: "edge" }, createdAtMs: T0 };
  const { zip, manifest } = buildPackage({ ...base, track: drive });
  const { files } = readZip(zip);
  const m = JSON.parse(new TextDecoder().decode(files.get("manifest.json")!)) as Manifest;
  expect(m.position.sidecars!.map((s) => s.file)).toEqual(["position.vmt", "position.gpx"]);
  for (const s of m.position.sidecars!) {
    expect(sha256Hex(files.get(s.file)!)).toBe(s.sha256);
    expect(m.files[s.file]).toBe(s.sha256);
  }
  expect(parseWebVmt(new TextDecoder().decode(files.get("position.vmt")!)).cues.length).toBe(4);
  expect(JSON.parse(new TextDecoder().decode(files.get("position.json")!)).track.length).toBe(drive.length);
  const none = buildPackage(base);
  expect(none.manifest.position.sidecars).toBeUndefined();
  expect(readZip(none.zip).files.has("position.vmt")).toBe(false);
  expect(manifest.position.file).toBe("position.json");
});
