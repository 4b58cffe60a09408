/**
 * Reachability probe. A component that lost central (`lost`: its connection failed) or sees no
 * progress (`suspect`: bytes queued and nothing acknowledged) starts a probe run: a fresh TCP
 * connection to central's federation listener every `intervalMs` (500 ms), each given
 * `timeoutMs` (3 s; a slow answer from a loaded host is not an outage) — a SYN costs ~60 bytes,
 * and a connection that gets through is closed at once, before TLS. Fresh connections matter:
 * after an outage, a connection opened during it waits for its SYN retransmission (1, 3, 7,
 * 15 s …) and an old one for its backed-off retransmission timer, while a new SYN gets through
 * in one round trip. A new run does not start within 2 s of one that found central reachable.
 *
 * The first probe that connects ends the run and tells every listener `up`, with
 * `outage: true` when some probe of the run failed or is still unanswered while a later one got
 * through (the link was really down). On an outage's end listeners retry at once with their
 * backoff reset and drop connections that made no progress through it. A run that saw no
 * failure (the link is fine, just slow, or a component's failure is its own) changes nothing:
 * nobody drops a working connection or skips its backoff. After 10 minutes of outage, probes
 * slow to every 2 s.
 */
import net from "node:net";
import type { Logger } from "../../lib/log/index.ts";

export interface ReachabilityOptions {
  /** Central's federation URL (https://host:port); the probe opens TCP connections to it. */
  url: string | (() => string);
  log: Logger;
  intervalMs?: number;
  timeoutMs?: number;
  /** After this long without getting through, probe every `slowIntervalMs`. */
  slowAfterMs?: number;
  slowIntervalMs?: number;
}

export interface ReachUp {
  /** Some probe of this run failed: the link was down, connections from before are suspect. */
  outage: boolean;
  /** When the run began (a connection idle since before this is stuck on the outage). */
  sinceMs: number;
  reason: string;
}

export class Reachability {
  private listeners = new Set<(u: ReachUp) => void>();
  private run: { started: number; failures: number; reason: string; timer: ReturnType<typeof setTimeout> | null; sockets: Set<net.Socket>; pending: Set<number> } | null = null;
  private stopped = false;
  private lastRunEnd = 0;
  readonly stats = { runs: 0, probes: 0, failures: 0, ups: 0, lastUpAt: null as number | null, lastOutage: false };

  constructor(private readonly o: ReachabilityOptions) {}

  get probing(): boolean {
    return this.run !== null;
  }

  /** Calls fn with every "central is reachable (again)" signal; returns the unsubscribe. */
  onUp(fn: (u: ReachUp) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * A connection to central failed or closed: probe until a fresh one gets through. Not again
   * within 2 s of a run that found central reachable: then the failure is the component's own
   * (a broker refusing, central answering errors), and its own backoff applies.
   */
  lost(reason: string): void {
    if (this.run || Date.now() - this.lastRunEnd < 2000) return;
    this.start(reason);
  }

  /** A connection stopped making progress: probe (rate-limited, since the link may only be slow). */
  suspect(reason: string): void {
    if (this.run || Date.now() - this.lastRunEnd < 2000) return;
    this.start(reason);
  }

  /** A component got through to central by itself: end the probe run the same way a probe would. */
  reached(): void {
    if (this.run) this.finish("a connection to central succeeded");
  }

  stop(): void {
    this.stopped = true;
    this.end();
    this.listeners.clear();
  }

  private start(reason: string): void {
    if (this.stopped || this.run) return;
    this.stats.runs++;
    this.run = { started: Date.now(), failures: 0, reason, timer: null, sockets: new Set(), pending: new Set() };
    this.o.log.debug("probing central", { reason });
    this.probe();
  }

  private probe(): void {
    const run = this.run;
    if (!run || this.stopped) return;
    const startedAt = Date.now();
    let target: URL;
    try {
      target = new URL(typeof this.o.url === "function" ? this.o.url() : this.o.url);
    } catch {
      return this.end();
    }
    this.stats.probes++;
    const host = target.hostname.replace(/^\[|\]$/g, "");
    const port = Number(target.port || (target.protocol === "https:" ? 443 : 80));
    const s = net.connect({ host, port });
    run.sockets.add(s);
    run.pending.add(startedAt);
    let done = false;
    const fail = () => {
      if (done) return;
      // A loaded machine may run the timer before the connect event it already has.
      if (s.readyState === "open") return succeed();
      done = true;
      run.pending.delete(startedAt);
      clearTimeout(t);
      s.destroy();
      run.sockets.delete(s);
      if (this.run === run) {
        run.failures++;
        this.stats.failures++;
      }
    };
    const t = setTimeout(fail, this.o.timeoutMs ?? 3000);
    const succeed = () => {
      if (done) return;
      done = true;
      clearTimeout(t);
      s.destroy();
      run.sockets.delete(s);
      run.pending.delete(startedAt);
      // An earlier probe still unanswered while this one got through: its SYN went nowhere.
      if ([...run.pending].some((p) => p < startedAt - 1000)) run.failures++;
      if (this.run === run) this.finish(`probe to ${host}:${port} connected`);
    };
    s.on("error", fail);
    s.once("connect", succeed);
    const slow = Date.now() - run.started > (this.o.slowAfterMs ?? 600_000);
    run.timer = setTimeout(() => this.probe(), slow ? (this.o.slowIntervalMs ?? 2000) : (this.o.intervalMs ?? 500));
  }

  private finish(how: string): void {
    const run = this.run!;
    const up: ReachUp = { outage: run.failures > 0, sinceMs: run.started, reason: run.reason };
    this.end();
    this.stats.ups++;
    this.stats.lastUpAt = Date.now();
    this.stats.lastOutage = up.outage;
    if (up.outage) this.o.log.info("central reachable again", { after: run.reason, downForMs: Date.now() - run.started, how });
    for (const fn of [...this.listeners]) {
      try {
        fn(up);
      } catch (e) {
        this.o.log.error("reachability listener failed", { err: e as Error });
      }
    }
  }

  private end(): void {
    const run = this.run;
    if (!run) return;
    if (run.timer) clearTimeout(run.timer);
    for (const s of run.sockets) s.destroy();
    this.run = null;
    this.lastRunEnd = Date.now();
  }
}
