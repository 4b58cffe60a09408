/**
 * CentralLive: live relay at central. Per camera stream (`<site>.<camera>` + main|sub) one
 * Feed: a LiveHub fed by exactly one edge uplink, however many viewers, recorders and HLS
 * clients need it. Demand starts the uplink (a LiveRequester asks the edge), keeps it leased,
 * and after a grace period with no demand central answers the uplink's POST, which ends it.
 *
 * In a cluster (options.cluster) the one uplink may be on another node: a wanted stream
 * without a source looks it up in live_uplinks and relays it from that node (one relay per
 * stream, however many viewers), or asks the edge as before when no node holds it. An uplink
 * reaching this node is accepted even when another node asked for it, and registered.
 */
import type { Context, Hono } from "hono";
import { upgradeWebSocket } from "hono/bun";
import type { TLSSocket } from "node:tls";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { FrameReader, LiveHub, liveSocketEvents, type HlsOptions, type HubOptions, HlsPackager } from "../../lib/live/index.ts";
import { LIVE_ROUTE, LIVE_VERSION, type LiveRequest } from "../../federation/live/control.ts";
import { parseFragment } from "../../lib/mp4/index.ts";
import { badRequest, notFound } from "../../lib/http/problem.ts";
import type { FederationEnv } from "../federation-api.ts";
import type { ApiEnv } from "../api.ts";
import type { ApiRouter } from "../openapi.ts";
import type { UserStreams } from "../users/index.ts";
import type { Subject } from "../rights/index.ts";
import type { LiveCluster, RelayHandle } from "./relay/cluster.ts";

export type StreamKind = "main" | "sub";

/** How central asks an edge to start/refresh/stop an uplink (MQTT topic or the command path). */
export interface LiveRequester {
  request(siteId: string, req: LiveRequest): Promise<void>;
}

export interface CentralLiveOptions {
  clock: Clock;
  log: Logger;
  requester: LiveRequester;
  /** Is this an active site? Default: any. */
  siteExists?: (siteId: string) => boolean;
  /** Does the site share this camera (device tree)? Default: yes. */
  cameraExists?: (siteId: string, cameraId: string) => boolean | Promise<boolean>;
  /** The site's link profile: sub stream unless "wifi" (or "ethernet"). */
  linkOf?: (siteId: string) => string | undefined;
  /** WebSocket viewers are registered here, so ending the login or the right closes them. */
  streams?: UserStreams;
  /** May this subject still watch `<site>.<camera>` (asked when the user's grants change)? Default: yes. */
  mayView?: (subject: Subject, siteId: string, centralCameraId: string) => boolean;
  /** No demand for this long → the uplink is stopped; default 10 s. */
  graceMs?: number;
  /** Lease sent with each start; refreshed at a third of it; default 30 s. */
  leaseMs?: number;
  /** No bytes (not even a ping) from the uplink for this long → the link is dead; default 6 s. */
  uplinkStallMs?: number;
  /** An HLS request keeps the stream wanted this long; default 15 s. */
  hlsHoldMs?: number;
  hub?: HubOptions;
  hls?: HlsOptions;
  /**
   * May live from this site run now (the link budget, central/transfer/live-budget.ts)? null =
   * yes, else the reason: live is refused at start and stopped while running (checked each second).
   */
  gate?: (siteId: string) => string | null;
  /** Live bytes received from a site (counted against its link budget). */
  onBytes?: (siteId: string, n: number) => void;
  /** Other central nodes: where uplinks are (live_uplinks) and relays from them. Absent on a single node. */
  cluster?: LiveCluster;
}

interface Uplink {
  id: number;
  socket: TLSSocket | undefined;
  stop: (reason: string) => void;
  startedAt: number;
  bytes: number;
}

export interface FeedStats {
  key: string;
  siteId: string;
  cameraId: string;
  stream: StreamKind;
  viewers: number;
  holds: string[];
  requested: boolean;
  uplinkActive: boolean;
  /** Uplink connections accepted for this stream since central started. */
  uplinksAccepted: number;
  /** The node this stream is relayed from now (cluster), or null. */
  relayFrom: string | null;
  /** Relays from other nodes opened for this stream since central started. */
  relaysOpened: number;
  bytesIn: number;
  fragmentsIn: number;
  lastFragmentAt: number | null;
}

class Feed {
  viewers = 0;
  holds = new Set<string>();
  /** Wanted until then without a viewer or hold: an HLS request, or an uplink this node adopted. */
  wantedUntil = 0;
  /** The relay feeding the hub from the node that holds the uplink (cluster). */
  relay: (RelayHandle & { from: string }) | undefined;
  relaysOpened = 0;
  seeking = false;
  seekTimer: ReturnType<typeof setTimeout> | undefined;
  requested = false;
  uplink: Uplink | undefined;
  uplinksAccepted = 0;
  refresh: ReturnType<typeof setInterval> | undefined;
  grace: ReturnType<typeof setTimeout> | undefined;
  hls: HlsPackager | undefined;
  /** Why live is held back (the gate's reason), while it is. */
  paused: string | undefined;
  constructor(
    readonly key: string,
    readonly siteId: string,
    readonly cameraId: string,
    readonly stream: StreamKind,
    readonly hub: LiveHub,
  ) {}
}

let uplinkIds = 0;

export class CentralLive {
  private feeds = new Map<string, Feed>();
  private siteBytes = new Map<string, number>();
  private readonly log: Logger;
  private closed = false;

  private gateTimer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly o: CentralLiveOptions) {
    this.log = o.log.child({ component: "central.live" });
    if (o.gate) this.gateTimer = setInterval(() => this.regate(), 1000);
  }

  /** Pauses wanted feeds the gate now refuses, and starts paused ones it allows again. */
  private regate(): void {
    for (const f of this.feeds.values()) {
      const why = this.o.gate!(f.siteId);
      if (why && f.requested) this.pause(f, why);
      else if (why && f.paused !== why && this.needed(f)) this.pause(f, why);
      else if (!why && f.paused) {
        f.paused = undefined;
        this.log.info("live resumed", { key: f.key });
        this.update(f);
      }
    }
  }

  private pause(f: Feed, why: string): void {
    const was = f.paused;
    f.paused = why;
    this.endRelay(f, why);
    if (f.requested) {
      f.requested = false;
      clearInterval(f.refresh);
      f.refresh = undefined;
      this.send(f, "stop");
      f.uplink?.stop(why);
    }
    if (was !== why) {
      f.hub.sourceEnded("paused", why);
      this.log.warn("live paused", { key: f.key, reason: why });
    }
  }

  static key(siteId: string, cameraId: string, stream: StreamKind): string {
    return `${siteId}.${cameraId}/${stream}`;
  }

  /** Central camera id `<site>.<camera>` → its parts, or a 404. */
  static split(centralId: string): { siteId: string; cameraId: string } {
    const i = centralId.indexOf(".");
    if (i <= 0 || i === centralId.length - 1) throw notFound(`No camera ${centralId}; central camera ids are <site>.<camera>.`);
    return { siteId: centralId.slice(0, i), cameraId: centralId.slice(i + 1) };
  }

  /** Default stream for a site: sub on cellular/unknown links, main on WiFi/ethernet. */
  defaultStream(siteId: string): StreamKind {
    const l = this.o.linkOf?.(siteId);
    return l === "wifi" || l === "ethernet" ? "main" : "sub";
  }

  feed(siteId: string, cameraId: string, stream: StreamKind): Feed {
    const key = CentralLive.key(siteId, cameraId, stream);
    let f = this.feeds.get(key);
    if (!f) {
      // Capture times come from the edge's clock: staleness here goes by arrival (see HubOptions).
      f = new Feed(key, siteId, cameraId, stream, new LiveHub(key, { captureClockTrusted: false, ...this.o.hub }));
      this.feeds.set(key, f);
    }
    return f;
  }

  /** Is this an active site that shares this camera (siteExists/cameraExists)? For RTSP out. */
  async exists(siteId: string, cameraId: string): Promise<boolean> {
    if (this.o.siteExists && !this.o.siteExists(siteId)) return false;
    return !this.o.cameraExists || (await this.o.cameraExists(siteId, cameraId));
  }

  /** The hub of a camera stream (recorders, RTSP out, tests). */
  hub(siteId: string, cameraId: string, stream: StreamKind): LiveHub {
    return this.feed(siteId, cameraId, stream).hub;
  }

  /** Holds the stream wanted under `holder` (e.g. "record"); returns the release function. */
  hold(siteId: string, cameraId: string, stream: StreamKind, holder: string): () => void {
    const f = this.feed(siteId, cameraId, stream);
    f.holds.add(holder);
    this.update(f);
    return () => {
      f.holds.delete(holder);
      this.update(f);
    };
  }

  /** Counts a viewer; returns its release. */
  addViewer(siteId: string, cameraId: string, stream: StreamKind): { hub: LiveHub; release: () => void } {
    const f = this.feed(siteId, cameraId, stream);
    f.viewers++;
    this.update(f);
    let done = false;
    return {
      hub: f.hub,
      release: () => {
        if (done) return;
        done = true;
        f.viewers--;
        this.update(f);
      },
    };
  }

  private needed(f: Feed): boolean {
    return !this.closed && (f.viewers > 0 || f.holds.size > 0 || this.o.clock.now() < f.wantedUntil);
  }

  private update(f: Feed): void {
    if (this.needed(f)) {
      if (f.grace) clearTimeout(f.grace);
      f.grace = undefined;
      const why = this.o.gate?.(f.siteId) ?? null;
      if (why) return this.pause(f, why);
      // In a cluster the uplink may be another node's: look before asking the edge (seek).
      if (this.o.cluster && !f.uplink) this.seek(f);
      else if (!f.requested) this.request(f);
      // Only an HLS hold keeps it: nothing else will call update() when that hold runs out,
      // so the grace timer is armed now (it re-checks when it fires).
      if (f.viewers > 0 || f.holds.size > 0) return;
    }
    if ((!f.requested && !f.relay) || f.grace) return;
    const grace = Math.max(0, f.wantedUntil - this.o.clock.now()) + (this.o.graceMs ?? 10_000);
    f.grace = setTimeout(() => {
      f.grace = undefined;
      if (this.needed(f)) return this.update(f);
      this.endRelay(f, "no viewer on this node needs it");
      if (!f.requested) return;
      f.requested = false;
      clearInterval(f.refresh);
      f.refresh = undefined;
      this.send(f, "stop");
      f.uplink?.stop("no viewer or recording needs this stream");
      this.log.info("live stream no longer needed; uplink stopped", { key: f.key });
    }, grace);
  }

  /** Asks the edge for the uplink and keeps its lease refreshed while the stream is wanted here. */
  private request(f: Feed): void {
    f.paused = undefined;
    f.requested = true;
    const lease = this.o.leaseMs ?? 30_000;
    this.send(f, "start");
    f.refresh = setInterval(() => this.send(f, "start"), Math.max(1000, Math.floor(lease / 3)));
  }

  /**
   * Cluster: while the stream is wanted and has no source here, looks (now and every pollMs)
   * for the node that holds its uplink and relays from it; with none (or none reachable), asks
   * the edge itself — the uplink then lands on whichever node the edge reaches.
   */
  private seek(f: Feed): void {
    if (f.seeking || f.seekTimer || f.uplink || f.relay) return;
    const c = this.o.cluster!;
    f.seeking = true;
    void (async () => {
      try {
        const at = await c.uplinks.locate(f.siteId, f.cameraId, f.stream);
        if (!this.needed(f) || f.uplink || f.relay || f.paused) return;
        if (at?.internalUrl && !c.unreachable(at.nodeId)) return this.openRelay(f, at.nodeId, at.internalUrl);
        if (!f.requested) this.request(f);
      } catch (e) {
        this.log.warn("live uplink lookup failed", { key: f.key, err: (e as Error).message });
      }
    })().finally(() => {
      f.seeking = false;
      if (this.needed(f) && !f.uplink && !f.relay && !f.paused) f.seekTimer = setTimeout(() => ((f.seekTimer = undefined), this.seek(f)), c.pollMs);
    });
  }

  private openRelay(f: Feed, from: string, url: string): void {
    // The uplink is another node's: stop refreshing it from here, without a "stop" (that would end it).
    if (f.requested) {
      f.requested = false;
      clearInterval(f.refresh);
      f.refresh = undefined;
    }
    const relay: RelayHandle & { from: string } = {
      from,
      ...this.o.cluster!.relay({ nodeId: from, url }, f.siteId, f.cameraId, f.stream, {
        init: (bytes) => f.hub.publishInit(bytes),
        fragment: (bytes, capturedAtMs) => {
          const init = f.hub.initSegment;
          if (init) f.hub.publishFragment(bytes, parseFragment(bytes, init.info), capturedAtMs);
        },
        ended: (reason, connected) => {
          if (f.relay !== relay) return;
          f.relay = undefined;
          this.log.info("live relay ended", { key: f.key, from, reason });
          if (connected) f.hub.sourceEnded("link-down", `live relay from central node ${from} ended (${reason})`);
          this.update(f);
        },
      }),
    };
    f.relay = relay;
    f.relaysOpened++;
    this.log.info("live relay opened", { key: f.key, from });
  }

  private endRelay(f: Feed, why: string): void {
    const r = f.relay;
    if (!r) return;
    f.relay = undefined;
    r.close(why);
    // As when an uplink ends: the cached GOP belongs to the ended relay, never replayed as live.
    f.hub.sourceEnded("stopped", why);
  }

  /** Does this node hold the stream's edge uplink now (what another node may relay)? */
  hasUplink(siteId: string, cameraId: string, stream: StreamKind): boolean {
    return !!this.feeds.get(CentralLive.key(siteId, cameraId, stream))?.uplink;
  }

  private send(f: Feed, action: "start" | "stop"): void {
    const req: LiveRequest = { v: LIVE_VERSION, action, cameraId: f.cameraId, stream: f.stream, leaseMs: this.o.leaseMs ?? 30_000 };
    this.o.requester.request(f.siteId, req).catch((e) => this.log.warn("live request not sent", { key: f.key, action, err: (e as Error).message }));
  }

  private addBytes(siteId: string, n: number): void {
    this.siteBytes.set(siteId, (this.siteBytes.get(siteId) ?? 0) + n);
    this.o.onBytes?.(siteId, n);
  }

  /** Live bytes received from a site since central started (counted against its link budget). */
  liveBytes(siteId?: string): number {
    if (siteId !== undefined) return this.siteBytes.get(siteId) ?? 0;
    let t = 0;
    for (const v of this.siteBytes.values()) t += v;
    return t;
  }

  stats(): FeedStats[] {
    return [...this.feeds.values()].map((f) => ({
      key: f.key,
      siteId: f.siteId,
      cameraId: f.cameraId,
      stream: f.stream,
      viewers: f.viewers,
      holds: [...f.holds],
      requested: f.requested,
      uplinkActive: !!f.uplink,
      uplinksAccepted: f.uplinksAccepted,
      relayFrom: f.relay?.from ?? null,
      relaysOpened: f.relaysOpened,
      bytesIn: f.hub.bytesIn,
      fragmentsIn: f.hub.fragmentsIn,
      lastFragmentAt: f.hub.lastFragmentAt,
    }));
  }

  /** Edge-facing: POST /federation/v1/live/:cameraId/:stream (mTLS; the site is the caller's certificate). */
  federationRoutes = (app: Hono<FederationEnv>): void => {
    app.post(LIVE_ROUTE, async (c) => {
      const siteId = c.var.peer.siteId;
      const cameraId = c.req.param("cameraId");
      const stream = c.req.param("stream");
      if (stream !== "main" && stream !== "sub") throw badRequest("stream must be main or sub");
      const key = CentralLive.key(siteId, cameraId, stream);
      const f = this.feeds.get(key);
      // Not asked for (any more): the 200 answer tells the edge to stop. In a cluster another
      // node may have asked: the uplink is adopted here and kept while any node needs it.
      if (!this.o.cluster && (!f || !f.requested)) return c.json({ stop: "central does not need this stream" });
      if (this.o.cluster && (this.closed || this.o.gate?.(siteId))) return c.json({ stop: "central does not need this stream" });
      return this.receive(c, f ?? this.feed(siteId, cameraId, stream));
    });
  };

  private async receive(c: Context<FederationEnv>, f: Feed): Promise<Response> {
    const socket = c.env.incoming.socket as TLSSocket;
    // One uplink per stream: a newer connection (the edge reconnected before central noticed
    // the old one die) replaces the old.
    f.uplink?.stop("replaced by a newer uplink");
    let stopWith: ((r: string) => void) | undefined;
    const stopped = new Promise<string>((r) => (stopWith = r));
    // Set at once when the uplink is stopped: fragments still in flight on its upload (a clean
    // stop lets the edge end the upload itself) must not reach the hub after it was told the
    // source ended — they would clear its "why" for the next viewer, or interleave with a newer uplink.
    let over = false;
    const up: Uplink = {
      id: ++uplinkIds,
      socket,
      stop: (r) => {
        over = true;
        stopWith!(r);
      },
      startedAt: this.o.clock.now(),
      bytes: 0,
    };
    f.uplink = up;
    f.uplinksAccepted++;
    this.log.info("live uplink connected", { key: f.key, uplink: up.id });
    const cluster = this.o.cluster;
    if (cluster) {
      // The hub's source is now this uplink; other nodes find it here.
      if (f.seekTimer) clearTimeout(f.seekTimer);
      f.seekTimer = undefined;
      this.endRelay(f, "the uplink arrived at this node");
      cluster.uplinks.register(f.siteId, f.cameraId, f.stream).catch((e) => this.log.warn("live uplink not registered", { key: f.key, err: (e as Error).message }));
      f.wantedUntil = Math.max(f.wantedUntil, this.o.clock.now() + (this.o.graceMs ?? 10_000));
      this.update(f);
    }
    const body = c.req.raw.body;
    if (!body) return c.json({ stop: "empty uplink" });
    const reader = body.getReader();
    const frames = new FrameReader();
    let lastData = this.o.clock.now();
    const stallMs = this.o.uplinkStallMs ?? 6000;
    const watchdog = setInterval(() => {
      if (this.o.clock.now() - lastData > stallMs) {
        clearInterval(watchdog);
        up.stop("lost");
        socket.destroy();
      }
    }, 500);
    let ended = "lost";
    const reading = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            ended = "closed";
            return;
          }
          lastData = this.o.clock.now();
          up.bytes += value.length;
          this.addBytes(f.siteId, value.length);
          if (over) continue;
          for (const fr of frames.push(value)) {
            if (fr.type === 1) f.hub.publishInit(fr.bytes);
            else if (fr.type === 2) {
              const init = f.hub.initSegment;
              if (!init) continue;
              f.hub.publishFragment(fr.bytes, parseFragment(fr.bytes, init.info), fr.capturedAtMs);
            }
          }
        }
      } catch (e) {
        ended = `lost: ${(e as Error).message}`;
      }
    })();
    const reason = await Promise.race([stopped, reading.then(() => ended)]);
    clearInterval(watchdog);
    if (f.uplink === up) {
      f.uplink = undefined;
      if (reason !== "replaced by a newer uplink") {
        const clean = reason !== "lost" && !reason.startsWith("lost") && reason !== "closed";
        f.hub.sourceEnded(clean ? "stopped" : "link-down", clean ? reason : `live uplink from site ${f.siteId} lost (${reason})`);
      }
      if (cluster) {
        cluster.uplinks.unregister(f.siteId, f.cameraId, f.stream).catch((e) => this.log.warn("live uplink not unregistered", { key: f.key, err: (e as Error).message }));
        // Still wanted here: the edge may reconnect to another node (seek finds it there).
        this.update(f);
      }
    }
    this.log.info("live uplink ended", { key: f.key, uplink: up.id, reason, bytes: up.bytes });
    // A clean stop answers first (the edge ends its upload when it reads the answer).
    if (reason.startsWith("lost") || reason === "closed") {
      reader.cancel().catch(() => undefined);
      socket.destroy();
    }
    return c.json({ stop: reason });
  }

  /**
   * Viewer routes (view-live on the camera; the router enforces it). `:id` is `<site>.<camera>`;
   * `?stream=main|sub` overrides the site's default (sub on cellular, main on WiFi).
   *   GET /api/v1/cameras/:id/live        WebSocket fMP4 (lib/live/PROTOCOL.md)
   *   GET /api/v1/cameras/:id/live.m3u8   LL-HLS; parts and segments under …/live/
   *   GET /api/v1/live                    live streams and bytes per site (what the user may see)
   */
  apiRoutes = (api: ApiRouter): void => {
    const tag = "live";
    const rights = { right: "view-live", camera: ":id" } as const;
    const resolve = async (c: Context<ApiEnv>) => {
      const { siteId, cameraId } = CentralLive.split(c.req.param("id")!);
      if (this.o.siteExists && !this.o.siteExists(siteId)) throw notFound(`No site ${siteId}.`);
      if (this.o.cameraExists && !(await this.o.cameraExists(siteId, cameraId))) throw notFound(`Site ${siteId} shares no camera ${cameraId}.`);
      const q = c.req.query("stream");
      if (q !== undefined && q !== "main" && q !== "sub") throw badRequest("stream must be main or sub");
      return { siteId, cameraId, stream: (q as StreamKind | undefined) ?? this.defaultStream(siteId) };
    };
    // The registry's mark before authorization: access that ends while the socket opens still closes it.
    const marks = new WeakMap<Request, number>();
    // The camera as the upgrade check resolved it (a lookup reads the site's camera list): the socket uses that one.
    const targets = new WeakMap<Request, Awaited<ReturnType<typeof resolve>>>();
    api.handlers(
      {
        method: "get",
        path: "/api/v1/cameras/:id/live",
        summary: "WebSocket: live fMP4 for MSE (lib/live/PROTOCOL.md)",
        tag,
        rights,
        before: [
          async (c, next) => {
            if (this.o.streams) marks.set(c.req.raw, this.o.streams.mark());
            await next();
          },
        ],
      },
      async (c, next) => {
        if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw badRequest("This endpoint is a WebSocket (fMP4 for MSE); for HTTP use live.m3u8.");
        targets.set(c.req.raw, await resolve(c));
        await next();
      },
      upgradeWebSocket((c) => {
        const t = targets.get(c.req.raw);
        if (!t) throw new Error("live WebSocket: the camera was not resolved before the upgrade");
        const session = (c as unknown as Context<ApiEnv>).var.session;
        const since = marks.get(c.req.raw);
        let release: (() => void) | undefined;
        let unhold: (() => void) | undefined;
        return liveSocketEvents({
          acquire: () => {
            const v = this.addViewer(t.siteId, t.cameraId, t.stream);
            release = v.release;
            return v.hub;
          },
          release: () => {
            unhold?.();
            release?.();
          },
          onOpen: (end) => {
            unhold = this.o.streams?.hold({
              user: session.user,
              ...(session.sessionId ? { sessionId: session.sessionId } : {}),
              allowed: (sub) => this.o.mayView?.(sub, t.siteId, `${t.siteId}.${t.cameraId}`) ?? true,
              close: end,
            }, since);
          },
        });
      }),
    );
    const hls = async (c: Context<ApiEnv>, file: string) => {
      const t = await resolve(c);
      const f = this.feed(t.siteId, t.cameraId, t.stream);
      f.wantedUntil = this.o.clock.now() + (this.o.hlsHoldMs ?? 15_000);
      this.update(f);
      f.hls ??= new HlsPackager(f.hub, this.o.hls);
      const keep = c.req.query("stream");
      return f.hls.serve(file, new URL(c.req.url).searchParams, keep ? `stream=${keep}` : "");
    };
    api.route({ method: "get", path: "/api/v1/cameras/:id/live.m3u8", summary: "LL-HLS playlist of a live camera", tag, rights, produces: "application/vnd.apple.mpegurl" }, (c) => hls(c, "live.m3u8"));
    api.route({ method: "get", path: "/api/v1/cameras/:id/live/:file", summary: "LL-HLS init, parts and segments", tag, rights, produces: "video/mp4" }, (c) => hls(c, c.req.param("file")));
    api.route({ method: "get", path: "/api/v1/live", summary: "Live streams of the cameras you may see, and live bytes of the sites you see as a whole", tag, rights: { user: "filtered" } }, (c) => {
      const who = c.var.session;
      const r = api.rights;
      const sites: Record<string, number> = {};
      for (const [k, v] of this.siteBytes) if (r.hasAny(who, { site: k })) sites[k] = v;
      return c.json({ streams: this.stats().filter((f) => r.canSeeCamera(who, `${f.siteId}.${f.cameraId}`, f.siteId)), liveBytesBySite: sites });
    });
  };

  close(): void {
    this.closed = true;
    clearInterval(this.gateTimer);
    for (const f of this.feeds.values()) {
      clearInterval(f.refresh);
      if (f.grace) clearTimeout(f.grace);
      if (f.seekTimer) clearTimeout(f.seekTimer);
      this.endRelay(f, "central stopping");
      f.uplink?.stop("central stopping");
      f.hls?.close();
      f.hub.closeAll(1001, "central stopping");
    }
  }
}
