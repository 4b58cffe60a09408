/**
 * CustodyRecorder: keeps a store's hash chains. Attached to a MediaStore's commit observer,
 * it appends every committed segment (SHA-256, time range, size) to its stream's chain and
 * signs the new head with the site key; active heads are re-signed at least every
 * `signEveryMs` (default 10 s) by one timer armed for the next head that falls due (none while
 * no stream records: an idle recorder is not woken for custody). Without a key (edge not enrolled yet) entries are still
 * chained and the first signature after enrollment covers them all (the chain links them).
 * At attach it reconciles each chain with the index (segments committed just before a crash,
 * or a chain deleted by hand, are appended then) — `outpost check --rebuild` runs the same.
 */
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { MediaStore } from "../../lib/store/index.ts";
import type { SegmentRecord, StreamKind } from "../../lib/store/types.ts";
import { writeFile, rename } from "node:fs/promises";
import { chainId, GENESIS, linkOf, parseEntry, parseSignature, signatureMessage, signText, type ChainEntry, type HeadSignature } from "./format.ts";
import { appendLine, appendLines, custodyId, custodyPaths, openTail, saveCert } from "./journal.ts";

/** The key that signs, and its certificate. */
export interface CustodySigner {
  key: CryptoKey;
  certPem: string;
  /** SHA-256 hex of the certificate DER. */
  certFp: string;
}

export interface CustodyOptions {
  clock: Clock;
  log: Logger;
  /** The current signing identity, or null (not enrolled). Asked at every signature: keys rotate. */
  signer: () => CustodySigner | null | Promise<CustodySigner | null>;
  /** Re-sign active heads at least this often; 0 disables the timer. Default 10 s. */
  signEveryMs?: number;
  /** A stream's head is re-signed for this long after its last commit; default 5 min. */
  activeMs?: number;
  /** Reconcile the chains with the index at attach; default true. */
  reconcile?: boolean;
  /** Timers (tests: a fake scheduler driven with the clock). Default setTimeout/clearTimeout. */
  timers?: { set(fn: () => void, ms: number): unknown; clear(handle: unknown): void };
}

interface StreamState {
  cameraId: string;
  stream: StreamKind;
  chain: string;
  last: ChainEntry | null;
  lastSignedSeq: number;
  lastSignedAtMs: number;
  lastCommitAtMs: number;
  /** When signActive last tried this head (a signature without a key fails; retried everyMs later, not at once). */
  lastTriedAtMs: number;
  queue: Promise<unknown>;
}

const defaultTimers = { set: (fn: () => void, ms: number): unknown => setTimeout(fn, ms), clear: (h: unknown) => clearTimeout(h as ReturnType<typeof setTimeout>) };

/** A stream counts as active (heads re-signed) for this long after its last commit (a stopped camera's head is not re-signed forever). */
const ACTIVE_MS = 5 * 60_000;

export class CustodyRecorder {
  private streams = new Map<string, StreamState>();
  /** The re-signing timer, armed for the next due head; null while none is due (no stream active). */
  private timer: { handle: unknown; atMs: number } | null = null;
  private closed = false;
  private detach: (() => void) | null = null;
  /** Signatures made (commit + periodic); for tests and the benchmark. */
  signatures = 0;

  private constructor(
    readonly root: string,
    readonly custodyId: string,
    private readonly opts: CustodyOptions,
  ) {}

  /** Opens custody for `store`, reconciles every chain with the index, and observes commits. */
  static async attach(store: MediaStore, opts: CustodyOptions): Promise<CustodyRecorder> {
    const r = new CustodyRecorder(store.root, await custodyId(store.root), opts);
    // Observe first so no commit slips between reconcile and attach; the per-stream queue orders them.
    r.detach = store.observeCommits((seg) => r.committed(seg));
    if (opts.reconcile !== false) await r.reconcile(store);
    r.schedule();
    return r;
  }

  /** Appends missing index segments to each chain (crash between commit and append; deleted chain). */
  async reconcile(store: MediaStore): Promise<number> {
    let added = 0;
    for (const c of await store.cameras()) {
      const st = await this.state(c.cameraId, c.stream);
      await this.serial(st, async () => {
        const from = st.last ? st.last.startMs + 1 : 0;
        const segs = await store.segments({ cameraId: c.cameraId, stream: c.stream, fromMs: from, toMs: Number.MAX_SAFE_INTEGER });
        const todo = segs.filter((s) => s.sha256 && !s.open && !(st.last && s.startMs <= st.last.startMs));
        // One append + fsync for all of them: a store that predates custody may hold 100k segments.
        if (todo.length) {
          await this.append(st, ...todo);
          added += todo.length;
          await this.sign(st);
        }
      });
    }
    if (added) this.opts.log.warn("custody chain reconciled with the index: segments appended after the fact (signed now, not at commit)", { added });
    return added;
  }

  /** The commit observer: chain the segment, then sign the new head. */
  async committed(seg: SegmentRecord): Promise<void> {
    if (!seg.sha256) return;
    const st = await this.state(seg.cameraId, seg.stream);
    await this.serial(st, async () => {
      if (st.last && seg.startMs <= st.last.startMs) return; // already chained (reconcile raced us)
      await this.append(st, seg);
      await this.sign(st);
    });
    this.schedule();
  }

  /** Signs the heads of streams that committed recently and were not signed for `everyMs`. */
  async signActive(everyMs: number): Promise<void> {
    const now = this.opts.clock.now();
    for (const st of this.streams.values()) {
      const due = this.dueAt(st, everyMs, now);
      if (due === undefined || due > now) continue;
      st.lastTriedAtMs = now;
      await this.serial(st, () => this.sign(st, true)).catch((e) => this.opts.log.error("periodic custody signature failed", { err: e as Error }));
    }
  }

  /** When `st`'s head is next due for a periodic signature; undefined while it is not active (no head, no commit for activeMs). */
  private dueAt(st: StreamState, everyMs: number, now: number): number | undefined {
    const activeUntil = st.lastCommitAtMs + (this.opts.activeMs ?? ACTIVE_MS);
    if (!st.last || now > activeUntil) return undefined;
    const due = Math.max(st.lastSignedAtMs, st.lastTriedAtMs) + everyMs;
    return due > activeUntil ? undefined : due;
  }

  /**
   * Arms the timer for the earliest due head (after attach, every commit and every periodic
   * round). Replaces a 1 s poll that woke every recorder, idle ones included, to find that
   * nothing was due: now the recorder wakes once per signature, and not at all without one.
   */
  private schedule(): void {
    const every = this.opts.signEveryMs ?? 10_000;
    if (every <= 0 || this.closed) return;
    const now = this.opts.clock.now();
    let next: number | undefined;
    for (const st of this.streams.values()) {
      const due = this.dueAt(st, every, now);
      if (due !== undefined && (next === undefined || due < next)) next = due;
    }
    const timers = this.opts.timers ?? defaultTimers;
    if (this.timer && (next === undefined || this.timer.atMs !== next)) {
      timers.clear(this.timer.handle);
      this.timer = null;
    }
    if (next === undefined || this.timer) return;
    const handle = timers.set(() => {
      this.timer = null;
      void this.signActive(every).finally(() => this.schedule());
    }, Math.max(0, next - now));
    (handle as { unref?: () => void }).unref?.();
    this.timer = { handle, atMs: next };
  }

  /** The armed re-signing timer's due time (tests); undefined when none is armed. */
  get nextSignatureAtMs(): number | undefined {
    return this.timer?.atMs;
  }

  close(): void {
    this.closed = true;
    if (this.timer) (this.opts.timers ?? defaultTimers).clear(this.timer.handle);
    this.timer = null;
    this.detach?.();
    this.detach = null;
  }

  /** Waits for queued appends and signatures. */
  async idle(): Promise<void> {
    await Promise.all([...this.streams.values()].map((s) => s.queue));
  }

  chainOf(cameraId: string, stream: StreamKind): string {
    return chainId(this.custodyId, cameraId, stream);
  }

  private async state(cameraId: string, stream: StreamKind): Promise<StreamState> {
    const key = `${cameraId}/${stream}`;
    let st = this.streams.get(key);
    if (st) return st;
    const p = custodyPaths(this.root, cameraId, stream);
    const last = await openTail(p.chain, parseEntry);
    const lastSig = await openTail(p.sigs, parseSignature);
    st = this.streams.get(key); // another caller may have loaded it meanwhile
    if (st) return st;
    st = {
      cameraId,
      stream,
      chain: chainId(this.custodyId, cameraId, stream),
      last,
      lastSignedSeq: lastSig?.seq ?? -1,
      lastSignedAtMs: lastSig?.signedAtMs ?? 0,
      lastCommitAtMs: 0,
      lastTriedAtMs: 0,
      queue: Promise.resolve(),
    };
    this.streams.set(key, st);
    return st;
  }

  private serial<T>(st: StreamState, fn: () => Promise<T>): Promise<T> {
    const p = st.queue.then(fn);
    st.queue = p.catch((e) => this.opts.log.error("custody chain update failed", { err: e as Error, camera: st.cameraId, stream: st.stream }));
    return p;
  }

  private async append(st: StreamState, ...segs: SegmentRecord[]): Promise<void> {
    let last = st.last;
    const entries: ChainEntry[] = [];
    for (const seg of segs) {
      const base = { chain: st.chain, seq: last ? last.seq + 1 : 0, startMs: seg.startMs, endMs: seg.endMs, bytes: seg.bytes, sha256: seg.sha256!, prev: last?.link ?? GENESIS };
      last = { ...base, link: linkOf(base) };
      entries.push(last);
    }
    const p = custodyPaths(this.root, st.cameraId, st.stream);
    await appendLines(p.chain, p.dir, entries);
    st.last = last;
    st.lastCommitAtMs = this.opts.clock.now();
  }

  /** Signs the head: appended to signatures.jsonl when the head is new, else written to head.json only. */
  private async sign(st: StreamState, periodic = false): Promise<void> {
    const head = st.last;
    if (!head) return;
    const signer = await this.opts.signer();
    if (!signer) return;
    const base = { chain: st.chain, seq: head.seq, head: head.link, signedAtMs: Math.floor(this.opts.clock.now()) }; // integer ms: the format and verifiers expect one
    const sig: HeadSignature = { ...base, cert: signer.certFp, sig: await signText(signer.key, signatureMessage(base)) };
    this.signatures++;
    const p = custodyPaths(this.root, st.cameraId, st.stream);
    if (periodic && head.seq === st.lastSignedSeq) {
      // Re-attests an unchanged head ("nothing else was committed up to now"); only the latest matters.
      const tmp = `${p.head}.tmp`;
      await writeFile(tmp, JSON.stringify(sig) + "\n");
      await rename(tmp, p.head);
    } else {
      await saveCert(this.root, signer.certFp, signer.certPem);
      await appendLine(p.sigs, p.dir, sig);
      st.lastSignedSeq = head.seq;
    }
    st.lastSignedAtMs = base.signedAtMs;
  }
}
