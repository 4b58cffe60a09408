/**
 * Client of the keyframe decoder (keyframes.py): one GStreamer process for every camera of the
 * edge, started on first use and again after it died. Requests go one at a time (the process
 * answers in order); a request that gets no answer within `timeoutMs` fails and the process is
 * restarted, so one bad picture cannot wedge the preview of every camera.
 *
 * The process ends after `idleMs` without a request and starts again with the next one. Why:
 * it is needed for a second or two after each segment closes (one segment a minute per camera
 * by default), but while it lives it holds ~75 MB (Python, GStreamer, libav and libav's own
 * dependency tree) — about as much as the recorder itself at four cameras. A restart costs
 * ~0.15–0.2 s of CPU (Python + GStreamer start, plugin load, one pipeline per stream again);
 * the activity comparison is unaffected (the previous keyframe's luma is kept by the caller).
 */
import type { Logger } from "../../lib/log/index.ts";
// As text, passed to `python3 -c`: a path next to this file does not exist in the compiled
// appliance (its modules live in the executable), so python could not open it there.
import KEYFRAMES_PY from "./keyframes.py" with { type: "text" };

const PYTHON = "/usr/bin/python3";

export interface DecodeRequest {
  /** Stream key ("cam1/sub"): one decoding pipeline per key. */
  key: string;
  codec: "h264" | "h265";
  codecData: Uint8Array;
  /**
   * The keyframe as stored: its bytes, or where it lies in a segment file — the decoder then
   * reads it itself (a minute at 2 Mbit/s has ~60 keyframes of 20–80 KB: read into the recorder
   * and written through a 64 KiB pipe, they cost the recorder more CPU than the rest of a
   * preview; the file was just written, so the decoder reads it from the page cache).
   */
  sample: Uint8Array | { path: string; at: number; size: number };
  width: number;
  height: number;
  quality: number;
  /** Encode a JPEG too (thumbnails); without it only the luma comes back (activity). */
  jpeg: boolean;
}

export interface Decoded {
  jpeg: Uint8Array;
  /** Luma plane, width × height bytes. */
  gray: Uint8Array;
}

/** An answer's header line; `jpegLen` + `grayLen` raw bytes follow it (keyframes.py). */
type Answer = { id: number; ok: boolean; jpegLen?: number; grayLen?: number; error?: string; bytes?: Uint8Array };
type Waiting = Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void }>;

export interface KeyframeDecoderOptions {
  /** A request without an answer this long fails and the process is restarted. */
  timeoutMs?: number;
  /** The process ends after this long without a request; 0 = it stays (one start only). */
  idleMs?: number;
}

export class KeyframeDecoder {
  private proc: ReturnType<typeof Bun.spawn> | null = null;
  /** Requests sent to the current process and not answered yet (each process has its own). */
  private waiting: Waiting = new Map();
  private nextId = 1;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** decode() calls not settled yet: the idle timer runs only while this is 0. */
  private inFlight = 0;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly timeoutMs: number;
  private readonly idleMs: number;
  /** Processes started so far (tests, benchmarks). */
  starts = 0;

  constructor(
    private readonly log: Logger,
    opts: KeyframeDecoderOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.idleMs = opts.idleMs ?? 0;
  }

  /** The process id (CPU measurements) while it runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  decode(r: DecodeRequest): Promise<Decoded> {
    this.inFlight++;
    clearTimeout(this.idleTimer);
    const p = this.chain.then(() => this.send(r)).finally(() => {
      if (--this.inFlight === 0) this.armIdle();
    });
    this.chain = p.catch(() => undefined);
    return p;
  }

  private armIdle(): void {
    if (this.idleMs <= 0 || this.closed || !this.proc) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      const p = this.proc;
      if (this.inFlight > 0 || !p) return;
      // Forgotten first: a request from now on starts a new process rather than writing to this one.
      this.proc = null;
      (p.stdin as import("bun").FileSink).end();
    }, this.idleMs);
    this.idleTimer.unref?.();
  }

  private start(): ReturnType<typeof Bun.spawn> {
    const proc = Bun.spawn([PYTHON, "-c", KEYFRAMES_PY], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const waiting: Waiting = new Map();
    this.proc = proc;
    this.waiting = waiting;
    this.starts++;
    void this.read(proc, waiting);
    void (async () => {
      const err = await new Response(proc.stderr as ReadableStream).text().catch(() => "");
      await proc.exited;
      if (this.proc === proc) this.proc = null;
      for (const w of waiting.values()) w.reject(new Error(`keyframe decoder exited (${proc.exitCode}): ${err.trim().slice(-300)}`));
      waiting.clear();
    })();
    return proc;
  }

  private async read(proc: ReturnType<typeof Bun.spawn>, waiting: Waiting): Promise<void> {
    // Bytes received and not yet consumed; an answer is taken once its header line and all of
    // its payload are in.
    let buf = new Uint8Array(64 * 1024);
    let len = 0;
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      if (len + chunk.length > buf.length) {
        const grown = new Uint8Array(Math.max(buf.length * 2, len + chunk.length));
        grown.set(buf.subarray(0, len));
        buf = grown;
      }
      buf.set(chunk, len);
      len += chunk.length;
      let at = 0;
      for (;;) {
        const nl = buf.subarray(at, len).indexOf(10);
        if (nl < 0) break;
        let a: Answer;
        try {
          a = JSON.parse(new TextDecoder().decode(buf.subarray(at, at + nl))) as Answer;
        } catch {
          // Unframed from here on: end the process (the next request starts a new one).
          this.log.warn("keyframe decoder wrote a header that is not JSON; restarting it", { line: new TextDecoder().decode(buf.subarray(at, at + Math.min(nl, 200))) });
          proc.kill();
          return;
        }
        const need = a.ok ? (a.jpegLen ?? 0) + (a.grayLen ?? 0) : 0;
        if (len - (at + nl + 1) < need) break;
        a.bytes = buf.slice(at + nl + 1, at + nl + 1 + need);
        at += nl + 1 + need;
        waiting.get(a.id)?.resolve(a);
        waiting.delete(a.id);
      }
      buf.copyWithin(0, at, len);
      len -= at;
    }
  }

  private async send(r: DecodeRequest): Promise<Decoded> {
    if (this.closed) throw new Error("keyframe decoder is closed");
    const proc = this.proc ?? this.start();
    const waiting = this.waiting;
    const id = this.nextId++;
    const inline = r.sample instanceof Uint8Array ? r.sample : null;
    const file = inline ? {} : { file: (r.sample as { path: string }).path, fileAt: (r.sample as { at: number }).at };
    const sampleLen = inline ? inline.length : (r.sample as { size: number }).size;
    const line = JSON.stringify({ id, key: r.key, codec: r.codec, codecDataLen: r.codecData.length, sampleLen, ...file, width: r.width, height: r.height, quality: r.quality, jpeg: r.jpeg }) + "\n";
    const answer = new Promise<Answer>((resolve, reject) => waiting.set(id, { resolve, reject }));
    const stdin = proc.stdin as import("bun").FileSink;
    stdin.write(line);
    stdin.write(r.codecData);
    if (inline) stdin.write(inline);
    await stdin.flush();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const a = await Promise.race([
        answer,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`keyframe decoder did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
      if (!a.ok) throw new Error(`keyframe not decoded: ${a.error}`);
      const bytes = a.bytes ?? new Uint8Array(0);
      return { jpeg: bytes.subarray(0, a.jpegLen ?? 0), gray: bytes.subarray(a.jpegLen ?? 0) };
    } catch (e) {
      if ((e as Error).message.includes("did not answer")) {
        waiting.delete(id);
        proc.kill();
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    const p = this.proc;
    this.proc = null;
    if (!p) return;
    (p.stdin as import("bun").FileSink).end();
    const t = setTimeout(() => p.kill(), 2000);
    await p.exited;
    clearTimeout(t);
  }
}
