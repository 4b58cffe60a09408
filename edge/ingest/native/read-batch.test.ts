/**
 * Batched socket reads: the batcher's bookkeeping with a manual timer (and a scripted recv for
 * its own reads of held sockets), and a real loopback connection whose interleaved frames
 * arrive whole and in order in fewer, larger reads.
 */
import { expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { ReadBatcher, type DirectRead } from "./read-batch.ts";
import { RtspConnection } from "./rtsp.ts";
import { EAGAIN, socketRecv, type Recv } from "./socket-recv.ts";

function fakeSocket() {
  const s = { paused: false, resumes: 0, pause: () => void (s.paused = true), resume: () => void ((s.paused = false), s.resumes++) };
  return s;
}

test("sockets held after a read are resumed together by one timer, armed only while one is held", () => {
  const timers: (() => void)[] = [];
  const b = new ReadBatcher(100, 64 * 1024, (fn) => (timers.push(fn), {} as ReturnType<typeof setTimeout>), null);
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
  const b = new ReadBatcher(100, 64 * 1024, () => ({}) as ReturnType<typeof setTimeout>, null);
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

/** A recv that answers from a script per call: a byte count (that many bytes of `fill`), 0 (end of stream) or −errno. */
function scriptedRecv(script: number[]): Recv & { fds: number[] } {
  const fds: number[] = [];
  const recv = (fd: number, into: Uint8Array) => {
    fds.push(fd);
    const n = script.shift() ?? -EAGAIN;
    if (n > 0) into.fill(7, 0, n);
    return n;
  };
  return Object.assign(recv, { fds });
}

function directReader(fd: number) {
  const got: number[] = [];
  const d: DirectRead = { fd, data: (bytes) => void got.push(bytes.length) };
  return { d, got };
}

test("at the timer a held socket is read by the batcher and stays paused while data keeps coming; with nothing waiting it goes back to the runtime", () => {
  const timers: (() => void)[] = [];
  const recv = scriptedRecv([3000, 2500, -EAGAIN]);
  const b = new ReadBatcher(100, 64 * 1024, (fn) => (timers.push(fn), {} as ReturnType<typeof setTimeout>), recv);
  const s = fakeSocket();
  const { d, got } = directReader(42);
  b.hold(s, 1500, d);
  timers.shift()!();
  // One recv, its bytes delivered, the socket never resumed: no epoll re-arming, no event-loop turn of its own.
  expect([got, recv.fds, s.paused, s.resumes, b.held, timers.length]).toEqual([[3000], [42], true, 0, 1, 1]);
  timers.shift()!();
  expect([got, s.paused, b.held]).toEqual([[3000, 2500], true, 1]);
  timers.shift()!();
  // Nothing waiting: resumed, so an idle camera costs no timer wake-ups (the runtime waits for its next bytes).
  expect([got.length, s.paused, s.resumes, b.held, timers.length]).toEqual([2, false, 1, 0, 0]);
});

test("a direct read that fills the buffer is followed by another at once; a burst hands the socket back to the runtime", () => {
  const timers: (() => void)[] = [];
  const recv = scriptedRecv([256 * 1024, 1000]);
  const b = new ReadBatcher(100, 64 * 1024, (fn) => (timers.push(fn), {} as ReturnType<typeof setTimeout>), recv);
  const s = fakeSocket();
  const { d, got } = directReader(5);
  b.hold(s, 100, d);
  timers.shift()!();
  expect([got, s.paused, s.resumes, b.held]).toEqual([[256 * 1024, 1000], false, 1, 0]);
});

test("end of stream or a failed read: the socket goes back to the runtime (which reports the close), never read again by the batcher", () => {
  for (const end of [0, -104 /* ECONNRESET */]) {
    const timers: (() => void)[] = [];
    const recv = scriptedRecv([end, 500]);
    const b = new ReadBatcher(100, 64 * 1024, (fn) => (timers.push(fn), {} as ReturnType<typeof setTimeout>), recv);
    const s = fakeSocket();
    const { d, got } = directReader(9);
    b.hold(s, 100, d);
    timers.shift()!();
    expect([got, recv.fds.length, s.paused, s.resumes, b.held, timers.length]).toEqual([[], 1, false, 1, 0, 0]);
  }
});

test("a socket closed while held, or while its bytes are handled, is never read again (its descriptor may be reused)", () => {
  const timers: (() => void)[] = [];
  const recv = scriptedRecv([256 * 1024, 1000, 1000]);
  const b = new ReadBatcher(100, 64 * 1024, (fn) => (timers.push(fn), {} as ReturnType<typeof setTimeout>), recv);
  const [s1, s2] = [fakeSocket(), fakeSocket()];
  b.hold(s1, 100, directReader(11).d);
  b.forget(s1);
  // Closed in the middle of a full read (a refused stream): no second read, not resumed, not held.
  b.hold(s2, 100, { fd: 12, data: () => b.forget(s2) });
  timers.shift()!();
  expect([recv.fds, s1.resumes, s2.resumes, b.held, timers.length]).toEqual([[12], 0, 0, 0, 0]);
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

/** Frames received through `batch`; reads = the runtime's reads plus the batcher's own (bytes > 0). */
async function receive(batch: ((recv: Recv | null) => ReadBatcher) | undefined, count: number): Promise<{ frames: number[]; reads: number; direct: number }> {
  const server = streamingCamera(count, 10);
  try {
    const conn = await RtspConnection.open("127.0.0.1", server.port, 5000);
    let reads = 0;
    let direct = 0;
    if (batch) {
      const real = socketRecv();
      const counted: Recv | null = real && ((fd, into) => {
        const n = real(fd, into);
        if (n > 0) direct++;
        return n;
      });
      const b = batch(counted);
      const hold = b.hold.bind(b);
      b.hold = (s, n, d) => (reads++, hold(s, n, d));
      conn.batchReads(b);
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
    return { frames, reads: reads + direct, direct };
  } finally {
    server.stop(true);
  }
}

test("a batched connection gets every frame whole and in order, in fewer reads than frames", async () => {
  const count = 40;
  for (const direct of [true, false]) {
    const got = await receive((recv) => new ReadBatcher(150, 64 * 1024, setTimeout, direct ? recv : null), count);
    expect(got.frames).toEqual(Array.from({ length: count }, (_, i) => i));
    // 40 writes 10 ms apart (≥ 400 ms) in 150 ms batches: a handful of reads; unbatched it is about one per write.
    expect(got.reads).toBeLessThanOrEqual(count / 2);
    if (!direct) expect(got.direct).toBe(0);
    else if (socketRecv()) expect(got.direct).toBeGreaterThan(0);
  }
});

test("a camera that closes the connection while the batcher holds its socket: the close is reported", async () => {
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      async open(sock: Socket<undefined>) {
        for (let i = 0; i < 5; i++) {
          sock.write(new Uint8Array([0x24, 0, 0, 4, i, i, i, i]));
          await Bun.sleep(20);
        }
        sock.end();
      },
      data: () => undefined,
    },
  });
  try {
    const conn = await RtspConnection.open("127.0.0.1", server.port, 5000);
    conn.batchReads(new ReadBatcher(100));
    const frames: number[] = [];
    conn.onFrame = (_ch, p) => void frames.push(p[0]!);
    const closed = new Promise<string>((r) => (conn.onClose = r));
    const why = await Promise.race([closed, Bun.sleep(10_000).then(() => "no close within 10 s")]);
    expect(why).toBe("connection closed by the camera");
    expect(frames).toEqual([0, 1, 2, 3, 4]);
    expect(conn.isClosed).toBe(true);
  } finally {
    server.stop(true);
  }
});
