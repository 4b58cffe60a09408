/**
 * G.711 → FLAC must be exact (ffmpeg's own G.711 decoder is the reference), and LATM's
 * StreamMuxConfig must yield the AudioSpecificConfig GStreamer's payloader put in it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { concat } from "../../../lib/mp4/index.ts";
import { G711ToFlac, latmConfig, latmFrames } from "./audio.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "outpost-audio-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function ffmpeg(args: string[]): Promise<{ out: Uint8Array; err: string }> {
  const p = Bun.spawn(["ffmpeg", "-v", "error", "-nostdin", ...args, "-f", "s16le", "-"], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).arrayBuffer(), new Response(p.stderr).text()]);
  await p.exited;
  return { out: new Uint8Array(out), err: err.trim() };
}

describe("G.711 → FLAC", () => {
  for (const law of ["pcmu", "pcma"] as const) {
    test(`${law}: every code, in packets of varying size, decodes to exactly what ffmpeg's ${law} decoder gives`, async () => {
      // All 256 codes plus a sine-like run, split like RTP packets of 20, 10 and 30 ms.
      const g711 = new Uint8Array(256 * 6 + 80);
      for (let i = 0; i < g711.length; i++) g711[i] = i < 256 * 6 ? (i * 37) & 0xff : 0xff - (i & 0x0f);
      const enc = new G711ToFlac(law, 8000);
      const frames: Uint8Array[] = [];
      const sizes = [160, 80, 240];
      for (let o = 0, k = 0; o < g711.length; k++) {
        const n = Math.min(sizes[k % 3]!, g711.length - o);
        frames.push(enc.frame(g711.subarray(o, o + n)));
        o += n;
      }
      const flac = join(dir, `${law}.flac`);
      await writeFile(flac, concat([new TextEncoder().encode("fLaC"), enc.streamInfo(), ...frames]));
      const raw = join(dir, `${law}.raw`);
      await writeFile(raw, g711);
      const got = await ffmpeg(["-i", flac]);
      const want = await ffmpeg(["-f", law === "pcmu" ? "mulaw" : "alaw", "-ar", "8000", "-ac", "1", "-i", raw]);
      expect(got.err).toBe("");
      expect(want.err).toBe("");
      expect(got.out.length).toBe(g711.length * 2);
      expect(Buffer.from(got.out).equals(Buffer.from(want.out))).toBe(true);
      // Wasted bits: 14 (μ) / 13 (A) bits per sample are stored, not 16.
      const payloadBits = frames.reduce((a, f) => a + f.length, 0) * 8;
      expect(payloadBits).toBeLessThan(g711.length * 15);
    });
  }
});

describe("MP4A-LATM", () => {
  test("StreamMuxConfig from GStreamer's rtpmp4apay → AudioSpecificConfig; PayloadLengthInfo → frames", () => {
    // rtpmp4apay's SDP for 16 kHz mono AAC-LC: config=40002810 (AudioSpecificConfig 1408 inside).
    const c = latmConfig("40002810");
    expect(c.sampleRate).toBe(16000);
    expect(c.channels).toBe(1);
    expect([...c.config]).toEqual([0x14, 0x08]);
    expect(c.subFrames).toBe(1);
    expect(() => latmConfig("c0")).toThrow(/audioMuxVersion 1/);
    expect(() => latmConfig("zz")).toThrow(/not hex/);
    const frame = new Uint8Array(300).fill(7);
    const payload = concat([new Uint8Array([255, 45]), frame]);
    expect(latmFrames(payload, 1).map((f) => f.length)).toEqual([300]);
    expect(latmFrames(new Uint8Array([10, 1, 2]), 1)).toEqual([]); // truncated: nothing, no throw
  });
});
