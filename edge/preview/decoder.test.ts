/**
 * The keyframe decoder process (real Python/GStreamer) ends when idle and starts again for the
 * next keyframe: it holds ~75 MB while it lives and is needed only after a segment closes.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeMedia } from "../../lib/store/testdata/media.ts";
import { concat } from "../../lib/mp4/index.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { removeTempDirs, tempDir, until } from "../../tests/helpers.ts";
import { KeyframeDecoder } from "./decoder.ts";
import { segmentKeyframes, segmentKeyframesOfFile } from "./keyframes.ts";

setDefaultTimeout(60_000);
afterAll(removeTempDirs);

/**
 * A decoder (`options` as given) and the keyframes of a clip of `frags` fragments of the test
 * media; `req(sample)` asks for one picture of 160×120 (a JPEG too unless `jpeg: false`).
 */
async function decoderScene(frags: number, options?: { idleMs: number }) {
  const dir = await tempDir("outpost-decoder-");
  const m = await makeMedia(dir, frags);
  const bytes = concat([m.init, ...m.frags.map((f) => f.bytes)]);
  const kf = segmentKeyframes(bytes)!;
  const dec = new KeyframeDecoder(new Logger({ component: "test", sink: new MemorySink(), level: "error" }), options);
  const req = (sample: Uint8Array | { path: string; at: number; size: number }, o: { key?: string; jpeg?: boolean } = {}) => ({ key: o.key ?? "k", codec: kf.codec, codecData: kf.codecData, sample, width: 160, height: 120, quality: 50, jpeg: o.jpeg ?? true });
  return { kf, dec, req, dir, bytes };
}

const alive = (pid: number) => {
  try {
    return process.kill(pid, 0);
  } catch {
    return false;
  }
};

test("the decoder process ends after idleMs without a request and a later request starts a new one", async () => {
  const { kf, dec, req: ask } = await decoderScene(3, { idleMs: 300 });
  expect(kf.keyframes.length).toBeGreaterThanOrEqual(2);
  const req = (i: number) => ask(kf.keyframes[i]!.data!, { key: "cam1/sub", jpeg: i === 0 });
  try {
    // Back-to-back requests share one process (the idle timer waits for the last answer).
    const [a, b] = await Promise.all([dec.decode(req(0)), dec.decode(req(1))]);
    expect(a.jpeg.subarray(0, 2)).toEqual(new Uint8Array([0xff, 0xd8]));
    expect(b.gray.length).toBe(160 * 120);
    expect(dec.starts).toBe(1);
    const first = dec.pid!;
    expect(alive(first)).toBe(true);
    await until("the idle decoder exited", () => !alive(first) && dec.pid === undefined, 20_000);
    const c = await dec.decode(req(1));
    expect(c.gray).toEqual(b.gray);
    expect(dec.starts).toBe(2);
    expect(dec.pid).not.toBe(first);
  } finally {
    await dec.close();
  }
});

test("idleMs 0: the process stays between requests", async () => {
  const { kf, dec, req } = await decoderScene(2);
  try {
    await dec.decode(req(kf.keyframes[0]!.data!, { jpeg: false }));
    const pid = dec.pid!;
    await Bun.sleep(500);
    await dec.decode(req(kf.keyframes[0]!.data!, { jpeg: false }));
    expect(dec.pid).toBe(pid);
    expect(dec.starts).toBe(1);
  } finally {
    await dec.close();
  }
});

test("a picture that does not decode fails alone: the next request on the same process is answered", async () => {
  const { kf, dec, req } = await decoderScene(2);
  try {
    const good = await dec.decode(req(kf.keyframes[0]!.data!));
    const pid = dec.pid;
    await expect(dec.decode(req(new Uint8Array(3000).fill(7)))).rejects.toThrow(/not decoded/);
    const again = await dec.decode(req(kf.keyframes[0]!.data!));
    expect(again.gray).toEqual(good.gray);
    expect(again.jpeg.subarray(0, 2)).toEqual(new Uint8Array([0xff, 0xd8]));
    expect(dec.pid).toBe(pid);
  } finally {
    await dec.close();
  }
});

test("a keyframe named by its place in a segment file decodes to the same picture as its bytes sent inline", async () => {
  const { dec, req, dir, bytes } = await decoderScene(2);
  const path = join(dir, "segment.mp4");
  await writeFile(path, bytes);
  const kf = (await segmentKeyframesOfFile(path, { data: false }))!;
  const k = kf.keyframes[0]!;
  expect(k.data).toBeUndefined(); // positions only: the recorder did not read the keyframe
  try {
    const inline = await dec.decode(req(bytes.subarray(k.at, k.at + k.size)));
    const byFile = await dec.decode(req({ path, at: k.at, size: k.size }));
    expect(byFile.gray).toEqual(inline.gray);
    expect(byFile.jpeg.subarray(0, 2)).toEqual(new Uint8Array([0xff, 0xd8]));
    // A place beyond the file's end fails alone; the process answers the next request.
    const pid = dec.pid;
    await expect(dec.decode(req({ path, at: bytes.length - 10, size: k.size }))).rejects.toThrow(/not decoded/);
    expect((await dec.decode(req({ path, at: k.at, size: k.size }))).gray).toEqual(inline.gray);
    expect(dec.pid).toBe(pid);
  } finally {
    await dec.close();
  }
});
