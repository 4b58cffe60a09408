/**
 * Edge transfer executor. Long-polls central for the segments it wants (edge dials out),
 * keeps only what the active link may carry (link profile: allowed classes, monthly budget)
 * and what it still has on disk (the rest is reported missing), and uploads with a few
 * workers, most urgent first (alarm > request > event > scheduled > backfill). Each upload
 * is one streamed PUT from central's committed offset, paced by the shared token bucket; at
 * every chunk boundary a worker checks budget and pre-emption (a more urgent item waiting
 * while every worker is busy) and ends its body there, so central keeps every whole chunk.
 * Evidence locks made for central are released when central says the range is safe there.
 */
import { join } from "node:path";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { parseHttpDate, retryAfterMs } from "../../lib/http/retry-after.ts";
import type { MediaStore, SegmentRecord } from "../../lib/store/index.ts";
// proof.ts, not the folder's index: the index also carries package verification and the X.509 stack behind it.
import { encodeProof, proofFor } from "../../federation/custody/proof.ts";
import {
  DEFAULT_CHUNK_SIZE,
  H,
  MAX_CHUNKS_PER_REQUEST,
  TRANSFER_VERSION,
  UploadResult,
  WorkResponse,
  chunkHashes,
  classAllowed,
  classRank,
  linkProfile,
  paths,
  PREVIEW_CLASS,
  type SitePolicy,
  type WorkItem,
} from "../../federation/transfer/index.ts";
import { TokenBucket } from "./bucket.ts";
import { Goodput } from "../../lib/goodput.ts";
import type { Reachability, ReachUp } from "../reach/index.ts";
import { Usage } from "./state.ts";

export interface EdgeTransferDeps {
  dataDir: string;
  store: MediaStore;
  /** Federation URL (https://…) and the edge's mTLS identity. */
  federationUrl: string;
  tls: { ca: string; cert: string; key: string };
  /** The policy from the applied desired config (uplink.appliedConfig?.config.policy). */
  policy: () => SitePolicy | null | undefined;
  /** Active link type at start (cellular, wifi, …); setLink() changes it. */
  link?: string;
  clock: Clock;
  log: Logger;
  workers?: number;
  pollWaitMs?: number;
  /** While work is queued, ask central again this often (new urgent work pre-empts). */
  refreshMs?: number;
  /** Abort an upload that has not moved for this long. */
  stallMs?: number;
  /** After this long without progress, probe central on a fresh connection; if it answers, restart the upload there. */
  probeAfterMs?: number;
  /** Chunks per PUT (default and maximum MAX_CHUNKS_PER_REQUEST). */
  maxChunksPerRequest?: number;
  backoff?: { minMs?: number; maxMs?: number };
  /** Shared "central reachable again" probe (edge/reach): resume polls and uploads at once when the link returns. */
  reach?: Reachability;
  /** The vehicle's state, reported with every work poll (central's depot offload starts when parked on a depot link). */
  vehicle?: () => "running" | "stopping" | "parked" | "low-voltage";
}

export interface EdgeTransferQueueItem {
  cameraId: string;
  stream: string;
  startMs: number;
  endMs: number;
  cls: string;
  /** What central has committed of it (resume point). */
  offset: number;
  bytes: number;
}

export interface EdgeTransferStatus {
  link: string;
  connected: boolean;
  queued: number;
  queuedBytes: number;
  /** Queued work by class (items, bytes still to send). */
  byClass: Record<string, { items: number; bytes: number }>;
  /** The first queued items, most urgent first (at most 100). */
  queue: EdgeTransferQueueItem[];
  /** Uploads running now; `offset` = bytes of the segment sent so far. */
  running: { segment: string; cameraId: string; stream: string; startMs: number; cls: string; offset: number; bytes: number }[];
  /** Measured upload goodput over the last seconds of sending (bytes/s); null when idle. */
  bytesPerSecond: number | null;
  usage: { month: string; byLink: Record<string, number> };
  budgetBlocked: boolean;
  stats: { uploads: number; committed: number; bytesSent: number; preempted: number; interrupted: number; resent409: number; missing: number; released: number; probeAborts: number };
}

interface Job extends WorkItem {
  seg: SegmentRecord;
}

interface Worker {
  job: Job | null;
  preempt: boolean;
  sent: number;
  /** The running PUT (to drop it when it is stuck through an outage) and when its body last moved. */
  ac: AbortController | null;
  lastMove: number;
}

const key = (i: { cameraId: string; stream: string; startMs: number }) => `${i.cameraId}/${i.stream}/${i.startMs}`;

export class EdgeTransfer {
  private linkType: string;
  private queue: Job[] = [];
  private readonly workers: Worker[] = [];
  private readonly usage: Usage;
  private readonly bucket: TokenBucket;
  private readonly missing = new Map<string, [string, "main" | "sub", number]>();
  /** Committed by us lately: a poll answered before the commit may still list them. */
  private readonly recent = new Map<string, number>();
  /** Offsets central reported to us after the poll that queued the item. */
  private readonly offsets = new Map<string, number>();
  /** Uploads that broke off without an answer: ask central where it stands before sending. */
  private readonly uncertain = new Set<string>();
  private readonly aborts = new Set<AbortController>();
  private stopped = false;
  private connected = false;
  private budgetBlocked = false;
  private wakeWorkers: (() => void)[] = [];
  private wakePoll: (() => void) | null = null;
  private pollAbort: AbortController | null = null;
  private pollStartedAt = 0;
  /** Central became reachable: the next failed/aborted poll retries at once. */
  private kick = false;
  private unreach: (() => void) | null = null;
  private loops: Promise<void>[] = [];
  /**
   * No upload starts before this (monotonic ms): central answered 503 with Retry-After. The
   * answer is about the whole receiver — its database, its disk, or the node shutting down; the
   * segment's bytes were fine — so every upload waits, not only that segment's: another
   * segment would be sent whole only to be refused at its commit too (central drops a refused
   * commit's bytes), spending the link's budget for nothing.
   */
  private receiverBackAt = 0;
  /**
   * No work poll before this (monotonic ms): central answered a poll 503 or 429 with a valid
   * Retry-After (draining for a shutdown, or overloaded). Asking again sooner only adds load to
   * a central that said when it can answer; a wake (link change, vehicle state, reachability)
   * does not override it.
   */
  private pollBackAt = 0;
  /** Central's chunk size from the last work answer (DEFAULT_CHUNK_SIZE until then). */
  private chunkSize = DEFAULT_CHUNK_SIZE;
  /** Bytes central acknowledged per PUT, over each PUT's own time (the edge's view of its link's goodput). */
  private readonly rate = new Goodput();
  readonly stats = { uploads: 0, committed: 0, bytesSent: 0, preempted: 0, interrupted: 0, resent409: 0, missing: 0, released: 0, probeAborts: 0 };

  constructor(private readonly d: EdgeTransferDeps) {
    this.linkType = d.link ?? "unknown";
    this.usage = new Usage(join(d.dataDir, "transfer", "usage.json"));
    this.bucket = new TokenBucket(d.clock, null);
  }

  get link(): string {
    return this.linkType;
  }

  /** The link changed (reported by the network manager, a config or the `set-link` command). */
  setLink(type: string): void {
    if (type === this.linkType) return;
    this.d.log.info("active link changed", { from: this.linkType, to: type });
    this.linkType = type;
    this.applyRate();
    // Work allowed on the old link may not be on the new one: stop at the next chunk boundary.
    for (const w of this.workers) if (w.job && !this.allowed(w.job)) w.preempt = true;
    this.queue = this.queue.filter((j) => this.allowed(j));
    this.pollNow();
  }

  /** The vehicle's state changed: tell central now (a long poll from before is dropped and asked again). */
  vehicleChanged(): void {
    if (this.stopped) return;
    this.kick = true;
    this.pollAbort?.abort();
    this.pollNow();
  }

  private applyRate(): void {
    const r = linkProfile(this.d.policy() ?? null, this.linkType).rateBitsPerSecond;
    this.bucket.setRate(r ? r / 8 : null);
  }

  async start(): Promise<void> {
    await this.usage.load(this.d.clock.now());
    this.applyRate();
    const n = this.d.workers ?? 2;
    for (let i = 0; i < n; i++) {
      const w: Worker = { job: null, preempt: false, sent: 0, ac: null, lastMove: 0 };
      this.workers.push(w);
      this.loops.push(this.workLoop(w));
    }
    this.loops.push(this.pollLoop());
    this.unreach = this.d.reach?.onUp((u) => this.reachable(u)) ?? null;
  }

  /**
   * An outage ended: poll now with the backoff reset; a poll or upload that has not moved since
   * before it is dropped for a fresh connection (the old one waits for TCP's backed-off
   * retransmission timer).
   */
  private reachable(u: ReachUp): void {
    if (this.stopped || !u.outage) return;
    const now = Date.now();
    this.kick = true;
    if (this.pollAbort && now - this.pollStartedAt > 1000) this.pollAbort.abort();
    for (const w of this.workers) if (w.job && w.ac && now - w.lastMove > 1000) w.ac.abort();
    this.pollNow();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unreach?.();
    this.pollAbort?.abort();
    for (const a of this.aborts) a.abort();
    for (const w of this.workers) w.preempt = true;
    this.wakePoll?.();
    for (const f of this.wakeWorkers.splice(0)) f();
    await Promise.allSettled(this.loops);
  }

  pollNow(): void {
    this.wakePoll?.();
  }

  status(): EdgeTransferStatus {
    const byClass: Record<string, { items: number; bytes: number }> = {};
    for (const j of this.queue) {
      const c = (byClass[j.cls] ??= { items: 0, bytes: 0 });
      c.items++;
      c.bytes += j.bytes - j.offset;
    }
    return {
      link: this.linkType,
      connected: this.connected,
      queued: this.queue.length,
      queuedBytes: this.queue.reduce((a, j) => a + j.bytes - j.offset, 0),
      byClass,
      queue: this.queue.slice(0, 100).map((j) => ({ cameraId: j.cameraId, stream: j.stream, startMs: j.startMs, endMs: j.seg.endMs, cls: j.cls, offset: j.offset, bytes: j.bytes })),
      running: this.workers
        .filter((w) => w.job)
        .map((w) => ({ segment: key(w.job!), cameraId: w.job!.cameraId, stream: w.job!.stream, startMs: w.job!.startMs, cls: w.job!.cls, offset: w.job!.offset + w.sent, bytes: w.job!.bytes })),
      bytesPerSecond: this.rate.bytesPerSecond(this.d.clock.now()),
      usage: this.usage.snapshot(this.d.clock.now()),
      budgetBlocked: this.budgetBlocked,
      stats: { ...this.stats },
    };
  }

  /** Bytes promised to chunks being sent right now (so parallel workers cannot overshoot together). */
  private reserved = 0;

  /**
   * One small whole body in the `preview` class (edge/preview's sync): only on a link that allows
   * the class, within the month's budget (counted like uploads, headers included), paced by the
   * shared token bucket, and only while no alarm or request upload runs or waits (they go first).
   * "wait": more urgent work now; "blocked": the link or the budget does not allow it;
   * "refused": central will not take this body (do not send it again).
   */
  async sendSmall(path: string, body: Uint8Array, headers: Record<string, string>): Promise<"sent" | "wait" | "blocked" | "refused"> {
    if (this.stopped) return "wait";
    const urgent = (c: string) => c === "alarm" || c === "request";
    if (this.queue.some((j) => urgent(j.cls)) || this.workers.some((w) => w.job && urgent(w.job.cls))) return "wait";
    if (!classAllowed(linkProfile(this.d.policy() ?? null, this.linkType), PREVIEW_CLASS)) return "blocked";
    const overhead = 300 + Object.entries(headers).reduce((a, [k, v]) => a + k.length + v.length + 4, 0);
    const n = body.length + overhead;
    if (this.budgetLeft() < n) return "blocked";
    const link = this.linkType;
    this.reserved += n;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.d.stallMs ?? 30_000);
    const done = () => {
      clearTimeout(timer);
      this.aborts.delete(ac);
      this.reserved -= n;
    };
    let status: number;
    try {
      await this.bucket.take(n);
      // Counted before it goes: bytes that left are spent even if the answer never comes.
      await this.usage.add(link, n, this.d.clock.now());
      this.aborts.add(ac);
      const r = await fetch(this.url(path), { method: "PUT", body, headers: { ...headers, [H.link]: link, [H.cls]: PREVIEW_CLASS, "content-type": "application/octet-stream" }, tls: this.d.tls, signal: ac.signal } as RequestInit);
      await r.arrayBuffer().catch(() => undefined);
      status = r.status;
    } catch (e) {
      done();
      throw e;
    }
    done();
    if (status >= 200 && status < 300) return "sent";
    if (status === 422 || status === 413 || status === 400) return "refused";
    throw new Error(`central answered ${status}`);
  }

  private budgetLeft(): number {
    const b = linkProfile(this.d.policy() ?? null, this.linkType).monthlyBytes;
    return b ? b - this.usage.used(this.linkType, this.d.clock.now()) - this.reserved : Infinity;
  }

  private allowed(j: WorkItem): boolean {
    const p = linkProfile(this.d.policy() ?? null, this.linkType);
    if (!classAllowed(p, j.cls)) return false;
    if (j.links && !j.links.includes(this.linkType)) return false;
    return true;
  }

  private url(p: string): string {
    return new URL(p, this.d.federationUrl).toString();
  }

  private async pollLoop(): Promise<void> {
    let backoff = this.d.backoff?.minMs ?? 500;
    while (!this.stopped) {
      const busy = this.queue.length > 0 || this.workers.some((w) => w.job);
      this.applyRate(); // the policy may have changed (desired config applied)
      try {
        const locks = (await this.d.store.locks()).filter((l) => l.id.startsWith("lk-")).map((l) => l.id);
        const body = {
          v: TRANSFER_VERSION,
          link: this.linkType,
          usage: this.usage.snapshot(this.d.clock.now()),
          missing: [...this.missing.values()],
          // Short while busy, and until central has answered once (so "connected" is known at once).
          waitMs: busy || !this.connected ? 0 : (this.d.pollWaitMs ?? 20_000),
          locks,
          ...(this.d.vehicle ? { vehicle: this.d.vehicle() } : {}),
        };
        const sentMissing = [...this.missing.keys()];
        this.pollAbort = new AbortController();
        this.pollStartedAt = Date.now();
        this.kick = false;
        const timer = setTimeout(() => this.pollAbort?.abort(), body.waitMs + 15_000);
        let res: Response;
        try {
          res = await fetch(this.url(paths.work), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), tls: this.d.tls, signal: this.pollAbort.signal } as RequestInit);
        } finally {
          clearTimeout(timer);
        }
        if (!res.ok) throw new PollRefused(res.status, (await res.text()).slice(0, 300), this.askedWaitMs(res));
        const w = WorkResponse.parse(await res.json());
        this.connected = true;
        this.d.reach?.reached();
        backoff = this.d.backoff?.minMs ?? 500;
        for (const k of sentMissing) this.missing.delete(k);
        this.chunkSize = w.chunkSize;
        for (const id of w.release) {
          if (await this.d.store.deleteLock(id)) {
            this.stats.released++;
            this.d.log.info("evidence lock released: the range is safe at central", { lock: id });
          }
        }
        await this.setQueue(w.items);
      } catch (e) {
        if (this.stopped) break;
        this.connected = false;
        if (e instanceof PollRefused && e.waitMs !== null) {
          // Central answered: it is reachable, only busy. Its wait replaces this step's backoff.
          this.d.reach?.reached();
          this.pollBackAt = this.monotonic() + e.waitMs;
          this.d.log.info("central asked to wait: work polls wait as it asked (Retry-After)", { status: e.status, waitMs: e.waitMs });
          await this.pollWaitAsked();
          continue;
        }
        if (this.kick) {
          // Central just became reachable (edge/reach): this poll was from before; ask again now.
          this.kick = false;
          backoff = this.d.backoff?.minMs ?? 500;
          continue;
        }
        this.d.reach?.lost(`transfer poll: ${(e as Error).message}`);
        this.d.log.debug("work poll failed", { err: (e as Error).message, retryInMs: backoff });
        await this.sleepPoll(backoff);
        backoff = Math.min(backoff * 2, this.d.backoff?.maxMs ?? 10_000);
        continue;
      }
      const again = this.queue.length > 0 || this.workers.some((w) => w.job);
      if (again) await this.sleepPoll(this.d.refreshMs ?? 1000);
    }
  }

  /** Sleeps until pollBackAt on the injected clock; a pollNow() wake re-checks it instead of polling early. */
  private async pollWaitAsked(): Promise<void> {
    for (let left = this.pollBackAt - this.monotonic(); left > 0 && !this.stopped; left = this.pollBackAt - this.monotonic()) await this.sleepPoll(left);
  }

  /** A 503 or 429's Retry-After (askedWait); null for any other status: the poll's own backoff applies. */
  private askedWaitMs(res: Response): number | null {
    return res.status === 503 || res.status === 429 ? this.askedWait(res.headers) : null;
  }

  /**
   * An answer's Retry-After as ms to wait, measured from the answer's own Date when it has one
   * (so the clocks' difference does not count), bounded (5 min); null when absent, invalid or 0.
   */
  private askedWait(headers: Headers): number | null {
    const ms = retryAfterMs(headers.get("retry-after"), parseHttpDate(headers.get("date")) ?? this.d.clock.now());
    return ms === null || ms === 0 ? null : ms;
  }

  private sleepPoll(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        r();
      }
      this.wakePoll = () => {
        this.wakePoll = null;
        done();
      };
    });
  }

  private async setQueue(items: WorkItem[]): Promise<void> {
    const now = this.d.clock.now();
    for (const [k, t] of this.recent) if (now - t > 120_000) this.recent.delete(k);
    const inFlight = new Set(this.workers.filter((w) => w.job).map((w) => key(w.job!)));
    const jobs: Job[] = [];
    for (const it of items) {
      const k = key(it);
      if (inFlight.has(k) || this.recent.has(k) || !this.allowed(it)) continue;
      const seg = await this.local(it);
      if (seg === "gone") {
        this.missing.set(k, [it.cameraId, it.stream, it.startMs]);
        this.stats.missing++;
        continue;
      }
      if (seg === "differs") continue; // the index central mirrors is behind (recovery trimmed it): wait for the sync
      const off = Math.max(it.offset, this.offsets.get(k) ?? 0);
      jobs.push({ ...it, offset: off - (off % this.chunkSize), seg });
    }
    // Workers may have taken jobs while the lookups above ran: never queue what is in flight or done.
    const busyNow = new Set(this.workers.filter((w) => w.job).map((w) => key(w.job!)));
    for (let i = jobs.length - 1; i >= 0; i--) if (busyNow.has(key(jobs[i]!)) || this.recent.has(key(jobs[i]!))) jobs.splice(i, 1);
    jobs.sort((a, b) => classRank(b.cls) - classRank(a.cls) || (a.deadlineMs ?? Infinity) - (b.deadlineMs ?? Infinity) || a.startMs - b.startMs);
    this.budgetBlocked = jobs.length > 0 && this.budgetLeft() < Math.min(this.chunkSize, jobs[0]!.bytes - jobs[0]!.offset);
    this.queue = this.budgetBlocked ? [] : jobs;
    // Pre-emption: the best waiting job outranks what a busy worker does, and nobody is idle.
    const best = this.queue[0];
    if (best && this.workers.every((w) => w.job)) {
      const low = this.workers.reduce((a, w) => (classRank(w.job!.cls) < classRank(a.job!.cls) ? w : a));
      if (classRank(low.job!.cls) < classRank(best.cls)) low.preempt = true;
    }
    for (const f of this.wakeWorkers.splice(0)) f();
  }

  private monotonic(): number {
    return this.d.clock.monotonic?.() ?? this.d.clock.now();
  }

  /**
   * Central answered 503: no upload starts until its Retry-After has passed (an HTTP date is
   * measured from the answer's own Date, so the clocks' difference does not count). A missing
   * or invalid value leaves the usual retry (the next work poll); a valid one is bounded (5 min).
   */
  private receiverUnavailable(headers: Headers): void {
    const ms = this.askedWait(headers);
    if (ms === null) return;
    this.receiverBackAt = Math.max(this.receiverBackAt, this.monotonic() + ms);
    this.d.log.info("central cannot store uploads now: uploads wait as it asked (Retry-After)", { waitMs: ms });
  }

  private async local(it: WorkItem): Promise<SegmentRecord | "gone" | "differs"> {
    const rows = await this.d.store.segments({ cameraId: it.cameraId, stream: it.stream, fromMs: it.startMs, toMs: it.startMs + 1 });
    const s = rows.find((r) => r.startMs === it.startMs);
    if (!s) return "gone";
    return !s.open && s.sha256 && s.bytes === it.bytes ? s : "differs";
  }

  private async workLoop(w: Worker): Promise<void> {
    while (!this.stopped) {
      const waitMs = this.receiverBackAt - this.monotonic();
      const job = waitMs > 0 ? undefined : this.queue.shift();
      if (!job) {
        // Woken by new work, stop, or (while central asked to wait) when the wait is over.
        await new Promise<void>((r) => {
          const t = waitMs > 0 ? setTimeout(wake, waitMs) : null;
          function wake() {
            if (t) clearTimeout(t);
            r();
          }
          this.wakeWorkers.push(wake);
        });
        continue;
      }
      w.job = job;
      w.preempt = false;
      w.sent = 0;
      try {
        await this.upload(w, job);
      } catch (e) {
        this.stats.interrupted++;
        this.d.log.debug("upload interrupted", { segment: key(job), err: (e as Error).message });
        await Bun.sleep(200);
      } finally {
        w.job = null;
      }
      this.pollNow();
    }
  }

  private async upload(w: Worker, job: Job): Promise<void> {
    const k = key(job);
    let data: Uint8Array;
    try {
      data = new Uint8Array(await Bun.file(this.d.store.absPath(job.seg)).arrayBuffer());
    } catch {
      this.missing.set(k, [job.cameraId, job.stream, job.startMs]);
      return;
    }
    if (data.length !== job.bytes) {
      this.missing.set(k, [job.cameraId, job.stream, job.startMs]);
      return;
    }
    const cs = this.chunkSize;
    if (this.uncertain.has(k)) {
      // The last attempt broke off: central may have committed more than we know (or all of it).
      const q = await fetch(`${this.url(paths.segment(job.cameraId, job.stream, job.startMs))}?bytes=${job.bytes}&sha256=${job.seg.sha256}`, { tls: this.d.tls, signal: AbortSignal.timeout(15_000) } as RequestInit);
      const st = UploadResult.parse(await q.json());
      this.uncertain.delete(k);
      if (st.committed) {
        this.recent.set(k, this.d.clock.now());
        return;
      }
      job.offset = st.offset - (st.offset % cs);
    }
    // A long segment goes as several PUTs of ≤ MAX_CHUNKS_PER_REQUEST chunks, back to back.
    for (;;) {
      const before = job.offset;
      const r = await this.put(w, job, data, cs);
      // Central asked to wait (another worker's answer): the rest is queued again at the next poll, from central's offset.
      if (r !== "more" || this.stopped || w.preempt || job.offset <= before || this.receiverBackAt > this.monotonic()) return;
    }
  }

  private async put(w: Worker, job: Job, data: Uint8Array, cs: number): Promise<"done" | "more" | "stop"> {
    const k = key(job);
    const offset = job.offset;
    const per = Math.min(MAX_CHUNKS_PER_REQUEST, this.d.maxChunksPerRequest ?? MAX_CHUNKS_PER_REQUEST);
    const hashes = chunkHashes(data.subarray(0, Math.min(data.length, offset + per * cs)), cs, offset / cs);
    const end = Math.min(data.length, offset + hashes.length * cs);
    const headers: Record<string, string> = {
      [H.offset]: String(offset),
      [H.bytes]: String(data.length),
      [H.sha256]: job.seg.sha256!,
      [H.chunkSize]: String(cs),
      [H.chunks]: hashes.join(","),
      // Lets central answer "held" for footage its live recording already covers.
      [H.endMs]: String(job.seg.endMs),
      [H.link]: this.linkType,
      [H.cls]: job.cls,
      "content-type": "application/octet-stream",
    };
    // The first request of a segment carries its custody proof; central checks it before storing anything.
    if (offset === 0) {
      const proof = await proofFor(this.d.store.root, { cameraId: job.cameraId, stream: job.stream, startMs: job.startMs, sha256: job.seg.sha256! }).catch(() => null);
      if (proof) headers[H.custody] = encodeProof(proof);
    }
    const link = this.linkType;
    // Request overhead counts against the budget too (headers; TLS framing is not visible here).
    const overhead = 300 + hashes.length * 65 + (headers[H.custody]?.length ?? 0);
    if (this.budgetLeft() < overhead + Math.min(cs, data.length - offset)) {
      this.budgetBlocked = true;
      return "stop";
    }
    await this.usage.add(link, overhead, this.d.clock.now());
    let pos = offset;
    let lastMove = Date.now();
    const ac = new AbortController();
    this.aborts.add(ac);
    w.ac = ac;
    w.lastMove = lastMove;
    const stallMs = this.d.stallMs ?? 30_000;
    // A stalled body (link outage) is left to TCP until a fresh connection gets through: then the
    // old one is given up (≤ one chunk lost) instead of waiting out TCP's backed-off retransmit timer.
    let probing = false;
    let probed: number | null = null; // central's committed offset at the previous probe
    const probeAfter = Math.min(this.d.probeAfterMs ?? 2000, stallMs);
    const statusUrl = `${this.url(paths.segment(job.cameraId, job.stream, job.startMs))}?bytes=${job.bytes}&sha256=${job.seg.sha256}`;
    const watchdog = setInterval(() => {
      const idle = Date.now() - lastMove;
      if (idle > stallMs) return ac.abort();
      if (idle < probeAfter) {
        probed = null;
        return;
      }
      if (probing) return;
      probing = true;
      this.d.reach?.suspect(`upload idle for ${idle} ms`);
      // Our body may just sit in fetch's buffer while the socket drains: only a fresh connection
      // that gets through while central's committed offset stands still means the old one is dead.
      fetch(statusUrl, { tls: this.d.tls, keepalive: false, signal: AbortSignal.timeout(1500) } as RequestInit)
        .then(async (r) => {
          const st = r.ok ? UploadResult.parse(await r.json()) : null;
          if (!st) return;
          if (probed !== null && st.offset === probed && Date.now() - lastMove > probeAfter) {
            this.stats.probeAborts++;
            ac.abort();
          }
          probed = st.offset;
        })
        .catch(() => undefined)
        .finally(() => (probing = false));
    }, 1000);
    const piece = 16 * 1024;
    let held = 0;
    const body = new ReadableStream<Uint8Array>({
      pull: async (ctl) => {
        lastMove = w.lastMove = Date.now();
        if (pos >= end) return ctl.close();
        if (pos % cs === 0) {
          // Chunk boundary: the only place a body may end without losing anything.
          this.reserved -= held;
          held = 0;
          const left = this.budgetLeft();
          const next = Math.min(cs, data.length - pos);
          if (w.preempt || this.stopped || link !== this.linkType || left < next) {
            if (left < next) this.budgetBlocked = true;
            if (w.preempt) this.stats.preempted++;
            return ctl.close();
          }
          held = next;
          this.reserved += held;
        }
        const n = Math.min(piece, data.length - pos, cs - (pos % cs));
        await this.bucket.take(n);
        lastMove = w.lastMove = Date.now();
        const part = data.subarray(pos, pos + n);
        pos += n;
        w.sent = pos - offset;
        this.stats.bytesSent += n;
        held -= n;
        this.reserved -= n;
        await this.usage.add(link, n, this.d.clock.now());
        ctl.enqueue(part);
      },
    });
    this.stats.uploads++;
    const putStart = this.d.clock.now();
    let res: Response;
    this.uncertain.add(k);
    try {
      res = await fetch(this.url(paths.segment(job.cameraId, job.stream, job.startMs)), { method: "PUT", headers, body, tls: this.d.tls, signal: ac.signal, duplex: "half" } as RequestInit);
    } finally {
      clearInterval(watchdog);
      this.aborts.delete(ac);
      w.ac = null;
      this.reserved -= held;
      held = 0;
    }
    const text = await res.text();
    if (res.status === 503) this.receiverUnavailable(res.headers);
    let r: UploadResult;
    try {
      r = UploadResult.parse(JSON.parse(text));
    } catch {
      throw new Error(`central answered ${res.status}: ${text.slice(0, 300)}`);
    }
    this.uncertain.delete(k);
    // What this PUT moved: acknowledged by central and actually sent (an "already held" answer moves nothing).
    const moved = Math.min(r.offset, pos) - offset;
    if (moved > 0) this.rate.add(this.d.clock.now(), moved, putStart);
    if (res.status === 409 || res.status === 422) {
      this.stats.resent409++;
      this.offsets.set(k, r.offset);
      return "stop";
    }
    if (!res.ok) throw new Error(`central answered ${res.status}: ${r.error ?? text.slice(0, 300)}`);
    if (r.committed) {
      this.stats.committed++;
      this.recent.set(k, this.d.clock.now());
      this.offsets.delete(k);
      return "done";
    }
    this.offsets.set(k, r.offset);
    job.offset = r.offset - (r.offset % cs);
    return r.offset >= end ? "more" : "stop";
  }
}

/** Central refused a work poll; `waitMs`: the wait its Retry-After asked for (null: none valid). */
class PollRefused extends Error {
  constructor(
    readonly status: number,
    body: string,
    readonly waitMs: number | null,
  ) {
    super(`central answered ${status}: ${body}`);
  }
}
