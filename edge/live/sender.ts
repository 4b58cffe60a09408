/**
 * One outbound live uplink (edge → central) for one camera stream: a chunked HTTP POST over
 * mTLS (node:tls, the edge's federation identity) carrying lib/live/wire.ts frames — the
 * init, the current GOP, then every fragment as the ingest produces it. Runs while its lease
 * lasts; reconnects by itself after a link drop (capped backoff); stops when central answers
 * (it does when no viewer or recording needs the stream) or the lease ends.
 * A slow link never slows ingest: when the socket's queue passes a bound, fragments are
 * dropped until the next keyframe.
 * A link outage does not use up the lease: central cannot refresh it while the link is down,
 * so the uplink keeps trying (up to `maxOutageMs`) and, once through, runs for at least
 * `graceAfterOutageMs` — central answers "stop" at once if it no longer needs the stream.
 * With a Reachability (edge/reach) it reconnects the moment central is reachable again.
 */
import tls from "node:tls";
import { isIP } from "node:net";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { encodeFrame, type LiveFragment, type LiveHub } from "../../lib/live/index.ts";
import { livePath } from "../../federation/live/control.ts";
import type { Reachability } from "../reach/index.ts";

export interface SenderTls {
  ca: string;
  cert: string;
  key: string;
}

export interface SenderOptions {
  hub: LiveHub;
  cameraId: string;
  stream: "main" | "sub";
  /** https://host:port of central's federation listener. */
  url: () => string;
  tls: () => SenderTls;
  clock: Clock;
  log: Logger;
  /** Queue bound before cutting to the next keyframe; default 1 MiB. */
  maxQueueBytes?: number;
  pingMs?: number;
  /** No progress writing for this long → the link is dead; default 8000 ms. */
  stallMs?: number;
  backoff?: { minMs?: number; maxMs?: number };
  /** A connection not up (TLS done) after this long is given up; default 10 s (after an outage the reach signal replaces a stuck attempt much sooner). */
  connectTimeoutMs?: number;
  /** Keep reconnecting through an outage this long even if the lease ran out meanwhile; default 10 min. */
  maxOutageMs?: number;
  /** After an outage, the uplink runs at least this long (central refreshes the lease meanwhile); default 15 s. */
  graceAfterOutageMs?: number;
  reach?: Reachability;
  onStopped?: () => void;
}

export interface SenderStats {
  cameraId: string;
  stream: string;
  active: boolean;
  connected: boolean;
  /** TCP+TLS connections opened to central since this uplink began. */
  connects: number;
  bytesSent: number;
  fragmentsSent: number;
  fragmentsDropped: number;
  leaseUntil: number;
}

export class UplinkSender {
  private leaseUntil = 0;
  private running = false;
  private socket: tls.TLSSocket | undefined;
  private wake: (() => void) | undefined;
  private stopReason: string | undefined;
  /** Since when the uplink has been cut off from central by the link (null while connected). */
  private downSince: number | null = null;
  /** The running connection: whether it is up and when it last made progress, and how to drop it. */
  private current: { openedAt: number; connected: () => boolean; lastProgress: () => number; drop: (why: string) => void } | undefined;
  /** The reachability signal ended the last attempt: reconnect at once, without backoff. */
  private kicked = false;
  private unreach: (() => void) | undefined;
  stats: SenderStats;

  constructor(private readonly o: SenderOptions) {
    this.stats = { cameraId: o.cameraId, stream: o.stream, active: false, connected: false, connects: 0, bytesSent: 0, fragmentsSent: 0, fragmentsDropped: 0, leaseUntil: 0 };
  }

  /** Starts (or extends) the uplink until now + leaseMs. */
  lease(leaseMs: number): void {
    this.leaseUntil = Math.max(this.leaseUntil, this.o.clock.now() + leaseMs);
    this.stats.leaseUntil = this.leaseUntil;
    this.stopReason = undefined;
    if (!this.running) {
      this.running = true;
      this.stats.active = true;
      this.unreach = this.o.reach?.onUp((u) => {
        if (!u.outage) return;
        const c = this.current;
        const now = this.o.clock.now();
        // Waiting to retry: now. An attempt from before (its SYN waits for TCP's retransmission),
        // or a connection stuck since before the outage: dropped for a fresh one.
        if (!c) {
          this.kicked = true;
          this.wake?.();
        } else if ((!c.connected() && now - c.openedAt > 1000) || (c.connected() && now - c.lastProgress() > 1000)) {
          this.kicked = true;
          c.drop("central is reachable again");
        }
      });
      void this.loop().finally(() => {
        this.running = false;
        this.stats.active = false;
        this.unreach?.();
        this.o.onStopped?.();
      });
    }
  }

  /** The lease holds, or the link is down and the outage is not too long to keep trying. */
  private wanted(): boolean {
    const now = this.o.clock.now();
    if (this.stopReason) return false;
    if (now < this.leaseUntil) return true;
    return this.downSince !== null && now - this.downSince < (this.o.maxOutageMs ?? 600_000);
  }

  stop(reason: string): void {
    this.stopReason = reason;
    this.leaseUntil = 0;
    this.socket?.end();
    this.socket?.destroy();
    this.wake?.();
  }

  private async loop(): Promise<void> {
    const minMs = this.o.backoff?.minMs ?? 500;
    const maxMs = this.o.backoff?.maxMs ?? 2000;
    let delay = minMs;
    while (this.wanted()) {
      const r = await this.session();
      if (r.kind === "stop") {
        this.o.log.info("live uplink stopped by central", { reason: r.reason });
        return;
      }
      if (this.stopReason) break; // stopped on purpose (central's stop command, edge stopping)
      this.downSince ??= this.o.clock.now();
      if (this.kicked) {
        this.kicked = false;
        delay = minMs;
        continue;
      }
      this.o.reach?.lost(`live uplink: ${r.reason}`);
      if (!this.wanted()) break;
      if (r.sent) delay = minMs;
      this.o.log.warn("live uplink lost; reconnecting", { reason: r.reason, retryInMs: delay });
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => resolve(), delay);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
      delay = this.kicked ? minMs : Math.min(maxMs, delay * 2);
      this.kicked = false;
    }
    this.o.log.info("live uplink ended", { reason: this.stopReason ?? "lease expired" });
  }

  /** One connection; resolves when it ends, with whether central asked to stop. */
  private session(): Promise<{ kind: "stop" | "lost"; reason: string; sent: boolean }> {
    return new Promise((resolve) => {
      const url = new URL(this.o.url());
      const host = url.hostname.replace(/^\[|\]$/g, "");
      const t = this.o.tls();
      const socket = tls.connect({
        host,
        port: Number(url.port || 443),
        ca: t.ca,
        cert: t.cert,
        key: t.key,
        minVersion: "TLSv1.2",
        rejectUnauthorized: true,
        ...(isIP(host) ? {} : { servername: host }),
      });
      this.socket = socket;
      this.stats.connects++;
      let settled = false;
      let sent = false;
      let unlisten: (() => void) | undefined;
      let response = "";
      let waitKey = false;
      const openedAt = this.o.clock.now();
      let lastProgress = this.o.clock.now();
      let lastWrite = this.o.clock.now();
      const maxQ = this.o.maxQueueBytes ?? 1 << 20;
      const stallMs = this.o.stallMs ?? 8000;
      const finish = (kind: "stop" | "lost", reason: string) => {
        if (settled) return;
        settled = true;
        clearInterval(timer);
        unlisten?.();
        if (this.current === cur) this.current = undefined;
        this.stats.connected = false;
        socket.destroy();
        if (this.socket === socket) this.socket = undefined;
        resolve({ kind, reason, sent });
      };
      const chunk = (frame: Uint8Array) => {
        socket.write(frame.length.toString(16) + "\r\n");
        socket.write(frame);
        socket.write("\r\n");
        this.stats.bytesSent += frame.length;
        lastWrite = this.o.clock.now();
      };
      const sendFragment = (f: LiveFragment) => {
        if (socket.writableLength > maxQ) {
          waitKey = true;
          this.stats.fragmentsDropped++;
          return;
        }
        if (waitKey) {
          if (!f.keyframe) {
            this.stats.fragmentsDropped++;
            return;
          }
          waitKey = false;
        }
        chunk(encodeFrame({ type: 2, capturedAtMs: f.capturedAt, bytes: f.bytes }));
        this.stats.fragmentsSent++;
        sent = true;
      };
      const cur = { openedAt, connected: () => this.stats.connected, lastProgress: () => lastProgress, drop: (why: string) => finish("lost", why) };
      this.current = cur;
      const timer = setInterval(() => {
        const now = this.o.clock.now();
        if (socket.writableLength === 0) lastProgress = now;
        // The lease ends the uplink only while the link works: a stuck one is an outage, not an end.
        if (this.stopReason || (this.stats.connected && now >= this.leaseUntil && now - lastProgress < 2000)) {
          // Clean end: the terminating chunk tells central this was on purpose.
          if (!socket.destroyed) socket.end("0\r\n\r\n");
          finish("stop", this.stopReason ?? "lease expired");
          return;
        }
        if (!this.stats.connected && now - openedAt > (this.o.connectTimeoutMs ?? 10_000)) return finish("lost", "connect timed out");
        if (now - lastProgress > 1500) this.o.reach?.suspect("live uplink: no progress sending");
        if (now - lastProgress > stallMs) return finish("lost", `no progress sending for ${stallMs} ms`);
        if (this.stats.connected && now - lastWrite > (this.o.pingMs ?? 2000)) chunk(encodeFrame({ type: 3 }));
      }, 250);
      socket.on("drain", () => (lastProgress = this.o.clock.now()));
      socket.once("secureConnect", () => {
        this.stats.connected = true;
        if (this.downSince !== null) {
          // Back after an outage: run long enough for central to refresh the lease (or say stop).
          this.downSince = null;
          this.leaseUntil = Math.max(this.leaseUntil, this.o.clock.now() + (this.o.graceAfterOutageMs ?? 15_000));
          this.stats.leaseUntil = this.leaseUntil;
        }
        this.o.reach?.reached();
        socket.write(
          `POST ${livePath(this.o.cameraId, this.o.stream)} HTTP/1.1\r\nHost: ${url.host}\r\ncontent-type: application/vnd.outpost.live\r\ntransfer-encoding: chunked\r\n\r\n`,
        );
        const hub = this.o.hub;
        if (hub.initSegment) chunk(encodeFrame({ type: 1, bytes: hub.initSegment.bytes }));
        for (const f of hub.lastGop) sendFragment(f);
        unlisten = hub.listen((e) => {
          if (e.type === "init") chunk(encodeFrame({ type: 1, bytes: e.init.bytes }));
          else if (e.type === "fragment") sendFragment(e.fragment);
        });
      });
      socket.on("data", (d: Buffer) => {
        response += d.toString("latin1");
        const m = /^HTTP\/1\.[01] (\d{3})[^\r]*\r\n[\s\S]*?\r\n\r\n([\s\S]*)$/.exec(response);
        if (!m) return;
        // Central answers only to end the stream: 200 = no longer needed, 4xx = refused.
        const status = Number(m[1]);
        finish(status === 200 || status === 409 || status === 403 || status === 404 ? "stop" : "lost", `central answered ${status}: ${m[2]!.slice(0, 200)}`);
      });
      socket.on("error", (e) => finish("lost", e.message));
      socket.on("close", () => finish("lost", "connection closed"));
    });
  }
}
