/**
 * EdgeLive: the edge's live hubs (one per camera stream, fed from the ingest's onFragment —
 * the same camera connection that records; no second session, no transcoding), the local
 * live endpoints, and the uplinks central asks for.
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { upgradeWebSocket } from "hono/bun";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { Session, Sessions } from "../../lib/auth/index.ts";
import type { FragmentInfo } from "../../lib/mp4/index.ts";
import { LiveHubs, liveSocketEvents, type HlsOptions, type HubOptions } from "../../lib/live/index.ts";
import { LiveRequest } from "../../federation/live/control.ts";
import { notFound, badRequest } from "../../lib/http/problem.ts";
import { UplinkSender, type SenderStats, type SenderTls } from "./sender.ts";
import type { Reachability } from "../reach/index.ts";

export interface EdgeLiveOptions {
  clock: Clock;
  log: Logger;
  hub?: HubOptions;
  hls?: HlsOptions;
  /** Does this camera stream exist here (local endpoints, central's requests)? */
  hasStream?: (cameraId: string, stream: "main" | "sub") => boolean;
  /** Camera ids central may watch; ["*"] = all (default). */
  share?: string[];
}

export interface UplinkTarget {
  /** https://host:port of central's federation listener (identity.federationUrl, or a proxy). */
  url: () => string;
  tls: () => SenderTls;
  backoff?: { minMs?: number; maxMs?: number };
  stallMs?: number;
  /** Shared "central reachable again" probe (edge/reach). */
  reach?: Reachability;
}

export class EdgeLive {
  readonly hubs: LiveHubs;
  private lastInit = new Map<string, Uint8Array>();
  /** Camera streams whose fragments flow (since their last session end). */
  private flowing = new Set<string>();
  private senders = new Map<string, UplinkSender>();
  private target: UplinkTarget | undefined;
  private readonly log: Logger;

  constructor(private readonly o: EdgeLiveOptions) {
    this.hubs = new LiveHubs({ ...(o.hub ? { hub: o.hub } : {}), ...(o.hls ? { hls: o.hls } : {}) });
    this.log = o.log.child({ component: "live" });
  }

  /** StreamIngest's onFragment for one camera stream. */
  feed(cameraId: string, stream: "main" | "sub"): (bytes: Uint8Array, info: FragmentInfo, init: Uint8Array) => void {
    const key = `${cameraId}/${stream}`;
    return (bytes, info, init) => {
      const hub = this.hubs.get(key);
      if (this.lastInit.get(key) !== init) {
        this.lastInit.set(key, init);
        hub.publishInit(init);
      }
      hub.publishFragment(bytes, info);
      this.flowing.add(key);
    };
  }

  /**
   * StreamIngest's onEnd for one camera stream: the camera session ended (closed, stalled,
   * stopped), so the hub drops its cached GOP and its HLS parts and viewers hear "nosignal".
   * Before, the GOP was dropped only by age (maxStaleMs, 4 s by default): a stopped camera's
   * last picture was replayed into the next uplink for that long, whatever shorter limit central
   * keeps (central judges by arrival, and a replay arrives fresh).
   */
  ended(cameraId: string, stream: "main" | "sub"): (reason: string, detail: string) => void {
    const key = `${cameraId}/${stream}`;
    return (reason, detail) => {
      // Once per outage: a camera that stays offline is retried every second, each try a session.
      if (this.flowing.delete(key)) this.hubs.peek(key)?.sourceEnded(reason, detail);
    };
  }

  /** Where uplinks go; without it central's requests are refused. */
  setUplinkTarget(t: UplinkTarget): void {
    this.target = t;
  }

  /**
   * Central's live request (from the MQTT topic or the control plane's command path):
   * start/refresh an uplink for leaseMs, or stop it. Throws with a sentence on bad input.
   */
  command(args: unknown): { cameraId: string; stream: string; active: boolean } {
    const r = LiveRequest.safeParse(args);
    if (!r.success) throw new Error(`bad live request: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    const q = r.data;
    const key = `${q.cameraId}/${q.stream}`;
    if (q.action === "stop") {
      this.senders.get(key)?.stop("central stopped it");
      return { cameraId: q.cameraId, stream: q.stream, active: false };
    }
    const share = this.o.share ?? ["*"];
    if (!share.includes("*") && !share.includes(q.cameraId)) throw new Error(`camera ${q.cameraId} is not shared with central`);
    if (this.o.hasStream && !this.o.hasStream(q.cameraId, q.stream)) throw new Error(`no camera stream ${key} on this edge`);
    if (!this.target) throw new Error("this edge has no federation identity: it cannot open a live uplink");
    let s = this.senders.get(key);
    if (!s) {
      s = new UplinkSender({
        hub: this.hubs.get(key),
        cameraId: q.cameraId,
        stream: q.stream,
        url: this.target.url,
        tls: this.target.tls,
        clock: this.o.clock,
        log: this.log.child({ camera: q.cameraId, stream: q.stream }),
        ...(this.target.backoff ? { backoff: this.target.backoff } : {}),
        ...(this.target.stallMs ? { stallMs: this.target.stallMs } : {}),
        ...(this.target.reach ? { reach: this.target.reach } : {}),
      });
      this.senders.set(key, s);
    }
    s.lease(q.leaseMs);
    return { cameraId: q.cameraId, stream: q.stream, active: true };
  }

  /** Uplink counters per camera stream (connections opened, bytes sent). */
  uplinks(): SenderStats[] {
    return [...this.senders.values()].map((s) => ({ ...s.stats }));
  }

  /**
   * Local endpoints (on-site viewing, edge session required):
   *   GET /api/v1/cameras/:id/live?stream=main|sub       WebSocket fMP4 (lib/live/PROTOCOL.md)
   *   GET /api/v1/cameras/:id/live.m3u8?stream=…         LL-HLS; files under …/live/
   */
  mount(app: Hono, auth: MiddlewareHandler, sessions?: Sessions): void {
    const pick = (id: string, q: string | undefined) => {
      const stream = q ?? "main";
      if (stream !== "main" && stream !== "sub") throw badRequest("stream must be main or sub");
      if (this.o.hasStream && !this.o.hasStream(id, stream)) throw notFound(`No camera stream ${id}/${stream} on this edge.`);
      return `${id}/${stream}`;
    };
    app.get(
      "/api/v1/cameras/:id/live",
      auth,
      async (c, next) => {
        if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw badRequest("This endpoint is a WebSocket; for HTTP use live.m3u8.");
        pick(c.req.param("id"), c.req.query("stream"));
        await next();
      },
      upgradeWebSocket((c) => {
        const key = pick(c.req.param("id")!, c.req.query("stream"));
        // The viewer ends with the session that opened it (logout, expiry).
        const token = (c.var as { session?: Session }).session?.token;
        let unhold: (() => void) | undefined;
        return liveSocketEvents({
          acquire: () => this.hubs.get(key),
          release: () => unhold?.(),
          onOpen: (end) => {
            if (sessions && token) unhold = sessions.hold(token, end);
          },
        });
      }),
    );
    const hls = (c: Context, file: string) => {
      const stream = c.req.query("stream");
      return this.hubs.hls(pick(c.req.param("id")!, stream)).serve(file, new URL(c.req.url).searchParams, stream ? `stream=${stream}` : "");
    };
    app.get("/api/v1/cameras/:id/live.m3u8", auth, (c) => hls(c, "live.m3u8"));
    app.get("/api/v1/cameras/:id/live/:file", auth, (c) => hls(c, c.req.param("file")));
  }

  close(): void {
    for (const s of this.senders.values()) s.stop("edge stopping");
    this.hubs.close();
  }
}
