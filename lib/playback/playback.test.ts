import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../clock.ts";
import { parseRange, planChunks } from "./body.ts";
import { planFragments } from "./plan.ts";
import { Exporter } from "./export.ts";
import { hlsParts, hlsPlaylist } from "./hls.ts";
import { Playback } from "./playback.ts";
import { snapshot } from "./snapshot.ts";
import { FileSource, countFrames, ffprobeJson, gappedSource } from "./testkit.ts";

const dir = mkdtempSync(join(tmpdir(), "playback-"));
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
let source: FileSource;
let pb: Playback;

beforeAll(async () => {
  // 8 s continuous (two segments), a 5 s gap, 4 s more; then a resolution change after another gap.
  source = await gappedSource(dir, T0);
  pb = new Playback({ source });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function all(plan: Awaited<ReturnType<Playback["plan"]>>, range?: { start: number; end: number }): Promise<Uint8Array> {
  return new Uint8Array(await new Response(pb.stream(plan, range)).arrayBuffer());
}

describe("playback", () => {
  test("window over 2 segments and a gap plays, starts at the keyframe before `from`, keeps wall-time spacing", async () => {
    const plan = await pb.plan({ cameraId: "cam1", fromMs: T0 + 1500, toMs: T0 + 15_500 });
    expect(plan.originMs).toBe(T0 + 1000);
    expect(plan.blocks.filter((i) => i.kind === "init").length).toBe(1);
    expect([...planFragments(plan)].some((f) => f.discontinuity === "gap")).toBe(true);
    expect([...planFragments(plan)].reduce((n, f) => n + f.size, 0) + 891).toBe(plan.total);
    const bytes = await all(plan);
    expect(bytes.length).toBe(plan.total);
    const path = join(dir, "w.mp4");
    await Bun.write(path, bytes);
    const { frames, stderr } = await countFrames(path);
    expect(stderr).toBe("");
    expect(frames).toBe(plan.frames);
    expect(frames).toBe(45 + 60 + 44);
    // The first frame after the gap sits at wall offset 12 s (13 s − origin 1 s).
    const pk = await ffprobeJson(path, ["-select_streams", "v:0", "-show_entries", "packet=pts_time,flags"]);
    const keys = (pk.json.packets as { pts_time: string; flags: string }[]).filter((p) => p.flags.startsWith("K")).map((p) => Number(p.pts_time));
    expect(keys.some((t) => Math.abs(t - 12) < 0.2)).toBe(true);
    expect(Math.min(...keys)).toBeLessThan(0.2);
  });

  test("byte ranges equal slices of the whole", async () => {
    const plan = await pb.plan({ cameraId: "cam1", fromMs: T0, toMs: T0 + 17_000 });
    const whole = await all(plan);
    for (const r of [{ start: 0, end: 100 }, { start: 12345, end: 345678 }, { start: plan.total - 777, end: plan.total }]) {
      expect(Buffer.from(await all(plan, r)).equals(Buffer.from(whole.subarray(r.start, r.end)))).toBe(true);
    }
    expect(parseRange("bytes=0-99", 1000)).toEqual({ start: 0, end: 100 });
    expect(parseRange("bytes=-10", 1000)).toEqual({ start: 990, end: 1000 });
    expect(parseRange("bytes=990-", 1000)).toEqual({ start: 990, end: 1000 });
    expect(parseRange("bytes=1000-", 1000)).toBe("unsatisfiable");
    expect(parseRange("bytes=0-1,5-6", 1000)).toBeUndefined();
    expect(parseRange(null, 1000)).toBeUndefined();
  });

  test("scans of closed segments are cached", async () => {
    const before = pb.cache.size;
    await pb.plan({ cameraId: "cam1", fromMs: T0, toMs: T0 + 30_000 });
    expect(pb.cache.size).toBe(4);
    expect(before).toBeLessThanOrEqual(4);
  });

  test("a resolution change emits the new init; HLS gets a new map and discontinuities", async () => {
    const plan = await pb.plan({ cameraId: "cam1", fromMs: T0, toMs: T0 + 30_000 });
    const inits = plan.blocks.filter((i) => i.kind === "init");
    expect(inits.map((i) => (i.kind === "init" ? `${i.width}x${i.height}` : ""))).toEqual(["320x240", "640x360"]);
    const parts = hlsParts(plan);
    let off = parts[0]!.map!.size;
    for (const p of parts) {
      if (p.map) off = p.map.offset + p.map.size;
      expect(p.offset).toBe(off);
      off += p.size;
    }
    expect(off).toBe(plan.total);
    expect(parts.reduce((n, p) => n + p.frames, 0)).toBe(plan.frames);
    const m3u8 = hlsPlaylist(plan, "video?x=1");
    expect(m3u8.match(/#EXT-X-MAP/g)!.length).toBe(2);
    expect(m3u8.match(/#EXT-X-DISCONTINUITY/g)!.length).toBe(2);
    expect(m3u8).toContain("#EXT-X-VERSION:7");
    expect(m3u8).toContain(`#EXT-X-PROGRAM-DATE-TIME:${new Date(T0).toISOString()}`);
  });

  test("HLS across a resolution change: ffmpeg reads the playlist over HTTP and decodes every frame", async () => {
    const plan = await pb.plan({ cameraId: "cam1", fromMs: T0, toMs: T0 + 30_000 });
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        if (new URL(req.url).pathname.endsWith(".m3u8")) return new Response(pb.playlist(plan, "v.mp4?x=1"));
        const r = parseRange(req.headers.get("range"), plan.total);
        const rr = r && r !== "unsatisfiable" ? r : { start: 0, end: plan.total };
        const headers = r ? { "content-range": `bytes ${rr.start}-${rr.end - 1}/${plan.total}` } : undefined;
        return new Response((await all(plan, rr)) as Uint8Array<ArrayBuffer>, { status: r ? 206 : 200, headers });
      },
    });
    try {
      const { frames, stderr } = await countFrames(`http://127.0.0.1:${server.port}/p.m3u8`);
      expect(stderr).toBe("");
      expect(frames).toBe(plan.frames);
      expect(frames).toBe(4 * 60);
    } finally {
      server.stop(true);
    }
  });

  test("empty window gives an empty plan", async () => {
    const plan = await pb.plan({ cameraId: "cam1", fromMs: T0 + 9000, toMs: T0 + 12_000 });
    expect(plan.blocks.length).toBe(0);
    expect(plan.total).toBe(0);
    expect(await Array.fromAsync(planChunks(plan))).toEqual([]);
  });

  test("export: one MP4, ffprobe-clean, duration = window ± 1 s, progress reaches 100", async () => {
    const exp = new Exporter({ playback: pb, dir: join(dir, "exports"), clock: new ManualClock(T0 + 60_000) });
    const job = await exp.start({ cameraId: "cam1", fromMs: T0 + 1500, toMs: T0 + 15_500 });
    expect(["queued", "running"]).toContain(job.state);
    const done = (await exp.wait(job.id))!;
    expect(done.error).toBeUndefined();
    expect(done.state).toBe("done");
    expect(done.progress).toBe(100);
    expect(done.bytesDone).toBe(done.bytesTotal);
    const file = exp.file(job.id)!;
    const probe = await ffprobeJson(file, ["-show_entries", "format=duration,format_name"]);
    expect(probe.stderr).toBe("");
    expect(Math.abs(Number(probe.json.format.duration) - 14)).toBeLessThanOrEqual(1);
    const { stderr } = await countFrames(file);
    expect(stderr).toBe("");
    // moov before mdat (+faststart)
    const head = new Uint8Array(await Bun.file(file).slice(0, 64).arrayBuffer());
    expect(Buffer.from(head).toString("latin1")).toContain("moov");
    // Survives a restart: a new Exporter over the same folder knows the job.
    const again = new Exporter({ playback: pb, dir: join(dir, "exports"), clock: new ManualClock() });
    expect(again.get(job.id)?.state).toBe("done");
  });

  test("exports survive a crash: every requested job is listed after a restart and runs again (or fails with a reason)", async () => {
    const crashDir = join(dir, "crash");
    const child = Bun.spawn(["bun", join(import.meta.dir, "testdata/export-crash.ts"), crashDir, join(dir, "a.mp4"), String(T0), "6"], { stdout: "pipe", stderr: "pipe" });
    const reader = child.stdout.getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`child ended: ${await new Response(child.stderr).text()}`);
      text += new TextDecoder().decode(value);
    }
    child.kill("SIGKILL"); // in the middle of the queue: exports run one at a time
    await child.exited;
    const ids = JSON.parse(text) as string[];
    // The same crashed folder, but the recording gone while the recorder was down (copy first).
    cpSync(join(crashDir, "exports"), join(crashDir, "exports-gone"), { recursive: true });
    const source2 = new FileSource(join(crashDir, "store2"));
    source2.add("cam1", "main", T0, join(dir, "a.mp4"));
    const again = new Exporter({ playback: new Playback({ source: source2 }), dir: join(crashDir, "exports"), clock: new ManualClock(T0 + 60_000) });
    expect(again.list().map((j) => j.id).sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const j = (await again.wait(id))!;
      expect({ id, state: j.state, error: j.error }).toEqual({ id, state: "done", error: undefined });
      expect(again.file(id)).toBeDefined();
    }
    expect(again.list().some((j) => (j.restarts ?? 0) > 0)).toBe(true);
    const gone = new Exporter({ playback: new Playback({ source: new FileSource(join(crashDir, "empty")) }), dir: join(crashDir, "exports-gone"), clock: new ManualClock() });
    expect(gone.list().length).toBe(ids.length);
    const unfinished = gone.list().filter((j) => j.state !== "done");
    expect(unfinished.length).toBeGreaterThan(0); // killed in the middle of the queue
    for (const j of unfinished) {
      const r = (await gone.wait(j.id))!;
      expect(r.state).toBe("failed");
      expect(r.error).toMatch(/no longer on this recorder/);
    }
  });

  test("snapshot is a JPEG of the newest keyframe at the stream's size", async () => {
    const snap = await snapshot(source, "cam1", "main", T0 + 30_000);
    expect(snap.jpeg[0]).toBe(0xff);
    expect(snap.jpeg[1]).toBe(0xd8);
    expect(snap.atMs).toBe(T0 + 23_000);
    const path = join(dir, "s.jpg");
    await Bun.write(path, snap.jpeg);
    const probe = await ffprobeJson(path, ["-show_entries", "stream=width,height,codec_name"]);
    expect(probe.json.streams[0]).toEqual({ codec_name: "mjpeg", width: 640, height: 360 });
    await expect(snapshot(source, "nope", "main", T0)).rejects.toThrow(/no recording/);
  });
});
