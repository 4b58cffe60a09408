/**
 * The keyframe decoder process (real Python/GStreamer) ends when idle and starts again for the
 * next keyframe: it holds ~75 MB while it lives and is needed only after a segment closes.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { makeMedia } from "../../lib/store/testdata/media.ts";
import { concat } from "../../lib/mp4/index.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { removeTempDirs, tempDir, until } from "../../tests/helpers.ts";
import { KeyframeDecoder } from "./decoder.ts";
import { segmentKeyframes } from "./keyframes.ts";

setDefaultTimeout(60_000);
afterAll(removeTempDirs);

/**
 * A decoder (`options` as given) and the keyframes of a clip of `frags` fragments of the test
 * media; `req(sample)` asks for one picture of 160×120 (a JPEG too unless `jpeg: false`).
 */
async function decoderScene(frags: number, options?: { idleMs: number }) {
  const m = await makeMedia(await tempDir("outpost-decoder-"), frags);
  const kf = segmentKeyframes(concat([m.init, ...m.frags.map((f) => f.bytes)]))!;
  const dec = new KeyframeDecoder(new Logger({ component: "test", sink: new MemorySink(), level: "error" }), options);
  const req = (sample: Uint8Array, o: { key?: string; jpeg?: boolean } = {}) => ({ key: o.key ?? "k", codec: kf.codec, codecData: kf.codecData, sample, width: 160, height: 120, quality: 50, jpeg: o.jpeg ?? true });
  return { kf, dec, req };
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
  const req = (i: number) => ask(kf.keyframes[i]!.data, { key: "cam1/sub", jpeg: i === 0 });
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
    await dec.decode(req(kf.keyframes[0]!.data, { jpeg: false }));
    const pid = dec.pid!;
    await Bun.sleep(500);
    await dec.decode(req(kf.keyframes[0]!.data, { jpeg: false }));
    expect(dec.pid).toBe(pid);
    expect(dec.starts).toBe(1);
  } finally {
    await dec.close();
  }
});

test("a picture that does not decode fails alone: the next request on the same process is answered", async () => {
  const { kf, dec, req } = await decoderScene(2);
  try {
    const good = await dec.decode(req(kf.keyframes[0]!.data));
    const pid = dec.pid;
    await expect(dec.decode(req(new Uint8Array(3000).fill(7)))).rejects.toThrow(/not decoded/);
    const again = await dec.decode(req(kf.keyframes[0]!.data));
    expect(again.gray).toEqual(good.gray);
    expect(again.jpeg.subarray(0, 2)).toEqual(new Uint8Array([0xff, 0xd8]));
    expect(dec.pid).toBe(pid);
  } finally {
    await dec.close();
  }
});
