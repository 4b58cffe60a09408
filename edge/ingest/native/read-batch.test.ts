/**
 * Batched socket reads: the batcher's bookkeeping with a manual timer, and a real loopback
 * connection whose interleaved frames arrive whole and in order in fewer, larger reads.
 */
import { expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { ReadBatcher } from "./read-batch.ts";
import { RtspConnection } from "./rtsp.ts";

function fakeSocket() {
  const s = { paused: false, resumes: 0, pause: () => void (s.paused = true), resume: () => void ((s.paused = false), s.resumes++) };
  return s;
}

test("sockets held after a read are resumed together by one timer, armed only while one is held", () => {
  const timers: (() => void)[] = [];
  const b = new ReadBatcher(100, 64 * 1024, (fn) => (timers.push(fn), {} as ReturnType<typeof setTimeout>));
  const [a, c] = [fakeSocket(), fakeSocket()];
  b.hold(a, 1500);
  b.hold(c, 1500);
  b.hold(a, 1500); // data Bun had already read: still one hold, still one timer
  expect([a.paused, c.paused, b.held, timers.length]).toEqual([true, true, 2, 1]);
  timers.shift()!();
  expect([a.paused, c.paused, b.held, a.resumes, c.resumes]).toEqual([false, false, 0, 1, 1]);
  expect(timers.length).toBe(0); // nothing held: no timer, an idle recorder does not wake
  b.hold(a, 1500);
  b.forget(a); // closed: dropped, not resumed
  expect([b.held, a.resumes]).toEqual([0, 1]);
  timers.shift()!();
  expect(a.resumes).toBe(1);
});

test("a read of a burst (a keyframe, a fast camera) is not followed by a pause", () => {
  const b = new ReadBatcher(100, 64 * 1024, () => ({}) as ReturnType<typeof setTimeout>);
  const s = fakeSocket();
  b.hold(s, 64 * 1024);
  expect([s.paused, b.held]).toEqual([false, 0]);
  b.hold(s, 64 * 1024 - 1);
  expect([s.paused, b.held]).toEqual([true, 1]);
});

test("batchMs 0: reads are never held", () => {
  const b = new ReadBatcher(0, 64 * 1024, () => {
    throw new Error("no timer expected");
  });
  const s = fakeSocket();
  b.hold(s, 10);
  expect([s.paused, b.held]).toEqual([false, 0]);
});

/** A camera that sends `count` interleaved frames (channel 0, payload = its index, 200 bytes), one every `gapMs`. */
function streamingCamera(count: number, gapMs: number): TCPSocketListener<undefined> {
  return Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      async open(sock: Socket<undefined>) {
        for (let i = 0; i < count; i++) {
          const f = new Uint8Array(4 + 200).fill(i & 0xff);
          f.set([0x24, 0, 0, 200]);
          sock.write(f);
          await Bun.sleep(gapMs);
        }
      },
      data: () => undefined,
    },
  });
}

async function receive(batch: ReadBatcher | undefined, count: number): Promise<{ frames: number[]; reads: number }> {
  const server = streamingCamera(count, 10);
  try {
    const conn = await RtspConnection.open("127.0.0.1", server.port, 5000);
    let reads = 0;
    if (batch) {
      const hold = batch.hold.bind(batch);
      batch.hold = (s, n) => (reads++, hold(s, n));
      conn.batchReads(batch);
    }
    const frames: number[] = [];
    conn.onFrame = (ch, payload) => {
      expect(ch).toBe(0);
      expect(payload.length).toBe(200);
      expect(payload.every((b) => b === payload[0])).toBe(true);
      frames.push(payload[0]!);
    };
    const deadline = Date.now() + 20_000;
    while (frames.length < count && Date.now() < deadline) await Bun.sleep(20);
    conn.close();
    return { frames, reads };
  } finally {
    server.stop(true);
  }
}

test("a batched connection gets every frame whole and in order, in fewer reads than frames", async () => {
  const count = 40;
  const { frames, reads } = await receive(new ReadBatcher(150), count);
  expect(frames).toEqual(Array.from({ length: count }, (_, i) => i));
  // 40 writes 10 ms apart (≥ 400 ms) in 150 ms batches: a handful of reads; unbatched it is about one per write.
  expect(reads).toBeLessThanOrEqual(count / 2);
});
