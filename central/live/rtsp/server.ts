/**
 * RTSP 1.0 server (RFC 2326) re-serving central's live hubs to third-party players and VMSs:
 * `rtsp://host:port/<site>.<camera>[/<main|sub>]`. Each PLAYing session is one more viewer of
 * the camera stream's LiveHub, so the edge uplink starts with the first player and stops after
 * CentralLive's grace period when the last one leaves; a slow player is cut forward to the
 * newest keyframe like any other viewer. RTP goes interleaved on the RTSP TCP connection only
 * (UDP would need per-client ports through firewalls and NAT; players fall back to TCP on 461),
 * with an RTCP sender report per track every 5 s so players can line up audio and video.
 * Users authenticate with Basic: central keeps only argon2id hashes, and Digest would need a
 * stored MD5 of every password. So the password is protected by TLS: RTSPS (`rtsps://`, RTSP
 * over TLS on its own port) accepts account passwords and stream credentials; plain RTSP, only
 * when configured, accepts stream credentials (credentials.ts) and account passwords only if
 * explicitly allowed.
 */
import net from "node:net";
import tls from "node:tls";
import type { Clock } from "../../../lib/clock.ts";
import { systemClock } from "../../../lib/clock.ts";
import type { Logger } from "../../../lib/log/index.ts";
import type { LiveHub, ViewerSink } from "../../../lib/live/index.ts";
import type { AuditInput } from "../../audit/index.ts";
import type { Rights, Subject } from "../../rights/index.ts";
import type { UserStreams } from "../../users/index.ts";
import { CentralLive, type StreamKind } from "../live.ts";
import { fragmentSamples, trackConfigs, trexDefaults, type TrackConfig } from "./media.ts";
import { RtpTrack, payloadType, sdpFor } from "./rtp.ts";
import { STREAM_SECRET_PREFIX } from "./credentials.ts";
import { ReplayStream, type ReplaySource } from "./replay.ts";
import { RtspReader, formatResponse, formatRtpInfo, formatSession, formatTransport, interleave, parseBasic, parseRequestLine, parseSession, parseTransport, type RtspHeaders, type RtspMessage } from "../../../lib/rtsp/index.ts";

export type VerifyResult = { kind: "ok"; session: Subject } | { kind: "denied" } | { kind: "throttled"; retryAfterMs: number };

export interface RtspOutOptions {
  live: CentralLive;
  /** Central's user store (Users.verify): name + password → the user's grants. */
  users: { verify(user: string, password: string, client?: string): Promise<VerifyResult> };
  /** Without it any authenticated user may watch every camera. */
  rights?: Pick<Rights, "has" | "canSeeCamera">;
  /** Each authenticated connection is held here: disabling the user, changing the password or narrowing the rights closes it. */
  streams?: UserStreams;
  /** ops.recordAudit: one record per session started or refused. */
  audit?: (a: AuditInput) => void;
  host?: string;
  /** Plain RTSP on this port (0 = any free port); omitted = no plain listener. */
  port?: number;
  /** What plain RTSP accepts as a password: stream credentials only (default), or account passwords too (sent in clear). */
  plainPasswords?: "stream-credentials" | "account-passwords";
  /** RTSPS (RTSP over TLS) with this certificate and key on this port (0 = any free port). */
  tls?: { cert: string; key: string; port: number; minVersion?: "TLSv1.2" | "TLSv1.3" };
  /** Per-user stream credentials (passwords starting with rtsp_): user + secret → the user's grants. */
  credentials?: { verify(user: string, secret: string): Promise<Subject | null> };
  log: Logger;
  clock?: Clock;
  realm?: string;
  /** A connection with no request and no RTCP for this long is closed; default 60 s (advertised in Session). */
  sessionTimeoutMs?: number;
  /** How long DESCRIBE waits for the edge's first init segment; default 15 s. */
  initTimeoutMs?: number;
  /** Open connections at most; default 256. */
  maxConnections?: number;
  /** Recorded footage at `/replay/<site>.<camera>/<stream>` (replay.ts); without it only live is served. */
  replay?: ReplaySource;
}

export interface RtspOut {
  host: string;
  /** Plain RTSP port, when that listener runs. */
  port?: number;
  /** RTSPS port, when that listener runs. */
  tlsPort?: number;
  /** rtsps://host:port (rtsp:// when only plain RTSP runs), no trailing slash. */
  baseUrl: string;
  /** baseUrl/<centralCameraId>/<stream> */
  url(centralCameraId: string, stream?: StreamKind): string;
  /** Sessions currently PLAYing. */
  playing(): number;
  close(): Promise<void>;
}

interface Request {
  method: string;
  uri: string;
  headers: RtspHeaders;
  cseq: string;
}

interface Target {
  siteId: string;
  cameraId: string;
  centralId: string;
  stream: StreamKind;
  key: string;
  /** trackID=N in a SETUP URL. */
  track?: number;
  base: string;
  /** A replay of recorded footage (replay.ts), with the URI's window. */
  replay?: { fromMs?: number; toMs?: number };
}

class Reply {
  headers: [string, string][] = [];
  constructor(
    readonly status: number,
    readonly body = "",
  ) {}
  set(k: string, v: string): this {
    this.headers.push([k, v]);
    return this;
  }
}

const PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER";
const MAX_HEADER = 64 * 1024;
/** Players send bodies only with SET_PARAMETER, a few bytes; a larger Content-Length is refused, not buffered. */
const MAX_BODY = 16 * 1024;
const SR_INTERVAL_MS = 5000;

interface Session {
  id: string;
  target: Target;
  user: string;
  client: string;
  hub: LiveHub;
  configs: TrackConfig[];
  defaults: ReturnType<typeof trexDefaults>;
  initBytes: Uint8Array;
  tracks: Map<number, RtpTrack>;
  viewer?: { remove: () => void };
  startedAt: number;
  audited: boolean;
  /** Unix ms at media time 0 (RTCP sender reports). */
  epochMs?: number;
  lastSr: Map<number, number>;
}

class Connection {
  /** Players' requests and their interleaved RTCP receiver reports. */
  readonly reader = new RtspReader({ maxHead: MAX_HEADER, maxBody: MAX_BODY });
  lastActivity: number;
  /** Authorization header value → subject, so argon2 runs once per connection. */
  authCache = new Map<string, Subject>();
  /** Demand held on the live hubs this connection described or plays (CentralLive viewer counts). */
  demand = new Map<string, { hub: LiveHub; release: () => void; target: Target; replay?: ReplayStream }>();
  /** Releases of this connection's entries in UserStreams, per authenticated user. */
  held = new Map<string, () => void>();
  session: Session | undefined;
  queue: Promise<void> = Promise.resolve();
  /** Requests received and not answered yet: a connection waiting on us (a password check, the edge's first init) is not idle. */
  busy = 0;
  closed = false;
  readonly client: string;
  constructor(
    readonly id: number,
    readonly sock: net.Socket,
    now: number,
    /** Arrived over RTSPS. */
    readonly secure: boolean,
  ) {
    this.lastActivity = now;
    this.client = sock.remoteAddress ?? "unknown";
  }
}

let connIds = 0;

export async function startRtspOut(o: RtspOutOptions): Promise<RtspOut> {
  const clock = o.clock ?? systemClock;
  const log = o.log.child({ component: "central.live.rtsp" });
  const realm = o.realm ?? "Outpost";
  const timeoutMs = o.sessionTimeoutMs ?? 60_000;
  const initTimeoutMs = o.initTimeoutMs ?? 15_000;
  const maxConns = o.maxConnections ?? 256;
  const conns = new Set<Connection>();
  let host = o.host ?? "127.0.0.1";

  if (o.port === undefined && !o.tls) throw new Error("RTSP out needs a plain port, a TLS listener, or both");
  const plainPasswords = o.plainPasswords ?? "stream-credentials";
  const accept = (secure: boolean) => (sock: net.Socket) => {
    if (conns.size >= maxConns) {
      sock.end(formatResponse(503, [["CSeq", "0"]]));
      return;
    }
    const c = new Connection(++connIds, sock, clock.now(), secure);
    c.reader.onMessage = (m) => onMessage(c, m);
    conns.add(c);
    sock.setNoDelay(true);
    sock.on("data", (d: Buffer) => onData(c, d));
    sock.on("error", () => sock.destroy());
    sock.on("close", () => closeConn(c, "connection closed"));
  };
  const server = o.port !== undefined ? net.createServer(accept(false)) : undefined;
  const tlsServer = o.tls ? tls.createServer({ cert: o.tls.cert, key: o.tls.key, minVersion: o.tls.minVersion ?? "TLSv1.2" }, accept(true)) : undefined;
  // refused handshakes (a plain-RTSP player on the TLS port, untrusted certificate) need no more than a debug line
  tlsServer?.on("tlsClientError", (e) => log.debug("RTSPS handshake failed", { err: e.message }));

  const sweep = setInterval(
    () => {
      const now = clock.now();
      for (const c of conns) {
        if (c.busy === 0 && now - c.lastActivity > timeoutMs) {
          log.info("RTSP session timed out", { conn: c.id, client: c.client, session: c.session?.id });
          closeConn(c, "timeout");
        }
      }
    },
    Math.max(200, Math.min(5000, Math.floor(timeoutMs / 4))),
  );
  sweep.unref?.();

  function closeConn(c: Connection, why: string): void {
    if (c.closed) return;
    c.closed = true;
    conns.delete(c);
    endSession(c, why);
    for (const d of c.demand.values()) d.release();
    c.demand.clear();
    for (const unhold of c.held.values()) unhold();
    c.held.clear();
    c.sock.destroy();
  }

  function endSession(c: Connection, why: string): void {
    const s = c.session;
    if (!s) return;
    c.session = undefined;
    s.viewer?.remove();
    const packets = [...s.tracks.values()].reduce((n, t) => n + t.packets, 0);
    log.info("RTSP session ended", { conn: c.id, session: s.id, user: s.user, key: s.target.key, why, packets, seconds: Math.round((clock.now() - s.startedAt) / 1000) });
  }

  function onData(c: Connection, d: Buffer): void {
    c.lastActivity = clock.now();
    // Interleaved RTCP receiver reports from the player (the reader's frames) only keep the session alive.
    const refused = c.reader.push(d);
    if (refused && !c.closed) {
      write(c, { cseq: "0" }, new Reply(400, `${refused}\r\n`));
      closeConn(c, refused);
    }
  }

  function onMessage(c: Connection, m: RtspMessage): void {
    const line = parseRequestLine(m.startLine);
    if (!line || line.version !== "1.0") {
      c.reader.stop("not RTSP");
      write(c, { cseq: "0" }, new Reply(400, "not an RTSP/1.0 request\r\n"));
      return closeConn(c, "not RTSP");
    }
    const cseq = m.headers.get("cseq") ?? "0";
    if (!/^\d{1,10}$/.test(cseq)) {
      // Echoed back, a CSeq with a bare CR or LF would add headers to the reply (header injection).
      write(c, { cseq: "0" }, new Reply(400, "CSeq must be a number.\r\n"));
      return;
    }
    const req: Request = { method: line.method, uri: line.uri, headers: m.headers, cseq };
    // Requests are answered in order even when one waits (authentication, the edge's init).
    c.busy++;
    c.queue = c.queue.then(async () => {
      if (c.closed) return;
      let reply: Reply;
      try {
        reply = await handle(c, req);
      } catch (e) {
        log.warn("RTSP request failed", { conn: c.id, method: req.method, uri: req.uri, err: (e as Error).message });
        reply = new Reply(500, `${(e as Error).message}\r\n`);
      } finally {
        c.busy--;
        c.lastActivity = clock.now(); // the session timeout counts from the answer, not from the question
      }
      if (!c.closed) write(c, req, reply);
      if (reply.status === 200 && req.method === "PLAY") startPlaying(c);
    });
  }

  function write(c: Connection, req: Pick<Request, "cseq">, r: Reply): void {
    const headers: [string, string][] = [["CSeq", req.cseq], ["Server", "Outpost"], ...r.headers];
    if (r.body && !r.headers.some(([k]) => k === "Content-Type")) headers.push(["Content-Type", "text/plain"]);
    let bytes: Buffer;
    try {
      bytes = formatResponse(r.status, headers, r.body);
    } catch (e) {
      // A value that would break the head (CR/LF from a request echoed back) never reaches the player.
      log.warn("RTSP reply refused", { conn: c.id, status: r.status, err: (e as Error).message });
      bytes = formatResponse(500, [["CSeq", /^\d{1,10}$/.test(req.cseq) ? req.cseq : "0"], ["Server", "Outpost"]]);
    }
    c.sock.write(bytes);
  }

  function parseTarget(uri: string, secure: boolean): Target | null | "bad" {
    if (uri === "*") return null;
    let path: string;
    try {
      path = new URL(uri).pathname;
    } catch {
      if (!uri.startsWith("/")) return "bad";
      path = uri.split("?")[0]!;
    }
    const parts = path.split("/").filter(Boolean).map((p) => decodeURIComponent(p));
    const replay = parts[0] === "replay" && o.replay ? replayWindow(uri) : undefined;
    if (replay === "bad") return "bad";
    if (replay) parts.shift();
    const centralId = parts[0];
    if (!centralId) return "bad";
    const i = centralId.indexOf(".");
    if (i <= 0 || i === centralId.length - 1) return "bad";
    const siteId = centralId.slice(0, i);
    const cameraId = centralId.slice(i + 1);
    let k = 1;
    let stream: StreamKind = o.live.defaultStream(siteId);
    if (parts[k] === "main" || parts[k] === "sub") stream = parts[k++] as StreamKind;
    let track: number | undefined;
    const m = parts[k] !== undefined ? /^trackID=(\d+)$/.exec(parts[k]!) : null;
    if (m) (track = Number(m[1])), k++;
    if (k !== parts.length) return "bad";
    const base = `${secure ? `rtsps://${hostFor()}:${tlsPort}` : `rtsp://${hostFor()}:${port}`}/${replay ? "replay/" : ""}${encodeURIComponent(centralId)}/${stream}/`;
    const key = (replay ? "replay:" : "") + CentralLive.key(siteId, cameraId, stream);
    return { siteId, cameraId, centralId, stream, key, ...(track !== undefined ? { track } : {}), base, ...(replay ? { replay } : {}) };
  }

  async function authenticate(c: Connection, header: string | undefined): Promise<Subject | Reply> {
    const challenge = () => new Reply(401, "This camera needs a user name and password (RTSP Basic authentication).\r\n").set("WWW-Authenticate", `Basic realm="${realm}"`);
    if (!header) return challenge();
    const cached = c.authCache.get(header);
    if (cached) return cached;
    const basic = parseBasic(header);
    if (!basic) return challenge();
    const { user, password } = basic;
    const since = o.streams?.mark();
    let session: Subject;
    if (password.startsWith(STREAM_SECRET_PREFIX)) {
      const sub = (await o.credentials?.verify(user, password)) ?? null;
      if (!sub) {
        log.warn("RTSP login failed", { user, client: c.client, reason: "unknown stream credential" });
        o.audit?.({ user, action: "login-failed", outcome: "denied", detail: { client: c.client, via: c.secure ? "rtsps" : "rtsp", reason: "stream-credential" } });
        return challenge();
      }
      session = sub;
    } else {
      if (!c.secure && plainPasswords !== "account-passwords") {
        // The password has crossed the network in clear already; refusing it teaches the player's
        // owner to use rtsps:// or a stream credential instead of leaving it that way.
        log.warn("RTSP login refused: account password over plain RTSP; use rtsps:// or a stream credential", { user, client: c.client });
        o.audit?.({ user, action: "login-failed", outcome: "denied", detail: { client: c.client, via: "rtsp", reason: "account-password-in-clear" } });
        return new Reply(401, "Plain RTSP accepts only stream credentials: use rtsps:// or make a stream credential in the web client.\r\n").set("WWW-Authenticate", `Basic realm="${realm}"`);
      }
      const r = await o.users.verify(user, password, c.client);
      if (r.kind !== "ok") {
        log.warn("RTSP login failed", { user, client: c.client, reason: r.kind });
        o.audit?.({ user, action: "login-failed", outcome: "denied", detail: { client: c.client, via: c.secure ? "rtsps" : "rtsp", ...(r.kind === "throttled" ? { reason: "throttled" } : {}) } });
        return challenge();
      }
      session = r.session;
    }
    c.authCache.set(header, session);
    if (o.streams && !c.held.has(user)) {
      c.held.set(
        user,
        o.streams.hold({
          user,
          allowed: (sub) => {
            const ok = !o.rights || [...c.demand.values()].every((d) => o.rights!.has(sub, d.replay ? "playback" : "view-live", { site: d.target.siteId, camera: d.target.centralId }));
            if (ok) for (const [k, v] of c.authCache) if (v.user === user) c.authCache.set(k, sub); // later requests use the new grants
            return ok;
          },
          close: (reason) => {
            log.info("RTSP connection closed: the user's access ended or narrowed", { conn: c.id, user, reason });
            closeConn(c, reason);
          },
        }, since),
      );
    }
    if (c.closed) return challenge(); // access ended during the check: the hold closed the connection
    return session;
  }

  /** Rights and existence, in requireRight's order: 404 when the user may not even see the camera. */
  async function authorize(c: Connection, sub: Subject, t: Target): Promise<Reply | null> {
    const right = t.replay ? "playback" : "view-live";
    if (o.rights && !o.rights.has(sub, right, { site: t.siteId, camera: t.centralId })) {
      const visible = o.rights.canSeeCamera(sub, t.centralId, t.siteId);
      o.audit?.({ user: sub.user, action: right, siteId: t.siteId, cameraId: t.centralId, outcome: "denied", detail: { via: "rtsp", stream: t.stream, client: c.client } });
      if (!visible) return new Reply(404, `No camera with id ${t.centralId}.\r\n`);
      return new Reply(403, `You do not have the '${right}' right for camera ${t.centralId}.\r\n`);
    }
    // A replay's footage may outlive the camera at its site: replay.ts answers 404 when there is none.
    if (!t.replay && !(await o.live.exists(t.siteId, t.cameraId))) return new Reply(404, `No camera with id ${t.centralId}.\r\n`);
    return null;
  }

  /** Holds the stream wanted for this connection and waits for the edge's init segment. */
  async function demandInit(c: Connection, t: Target): Promise<LiveHub | Reply> {
    // A connection closed while this request waited (authentication) must not leave demand behind.
    if (c.closed) return new Reply(503, "connection closed\r\n");
    let d = c.demand.get(t.key);
    if (!d && t.replay) {
      const r = await o.replay!.open(t.centralId, t.stream, t.replay);
      if (!(r instanceof ReplayStream)) return replayRefusal(r);
      d = { hub: r.hub, release: () => r.release(), target: t, replay: r };
      c.demand.set(t.key, d);
    }
    if (!d) {
      d = { ...o.live.addViewer(t.siteId, t.cameraId, t.stream), target: t };
      c.demand.set(t.key, d);
    }
    const hub = d.hub;
    if (!hub.initSegment) {
      await new Promise<void>((resolve) => {
        const off = hub.listen((e) => {
          if (e.type === "init") done();
        });
        const timer = setTimeout(done, initTimeoutMs);
        const poll = setInterval(() => c.closed && done(), 250);
        function done() {
          off();
          clearTimeout(timer);
          clearInterval(poll);
          resolve();
        }
      });
    }
    if (!hub.initSegment) return new Reply(503, `Camera ${t.centralId} (${t.stream}) is not streaming: its site did not send video within ${Math.round(initTimeoutMs / 1000)} s.\r\n`).set("Retry-After", "5");
    return hub;
  }

  function describe(t: Target, hub: LiveHub): Reply {
    const configs = trackConfigs(hub.initSegment!.bytes);
    if (!configs.length) return new Reply(503, `Camera ${t.centralId} sends ${hub.initSegment!.info.mime}, which RTSP out cannot packetize (H.264, H.265, AAC).\r\n`);
    const sdp = sdpFor(configs, { sessionId: String(Date.now()), host: hostFor(), title: `${t.centralId} ${t.stream}` });
    return new Reply(200, sdp).set("Content-Base", t.base).set("Content-Type", "application/sdp");
  }

  function sessionMatches(c: Connection, req: Request): Reply | null {
    const value = req.headers.get("session");
    const sid = value === undefined ? undefined : parseSession(value).id;
    if (!sid) return null;
    if (!c.session || c.session.id !== sid) return new Reply(454, `No session ${sid} on this connection.\r\n`);
    return null;
  }

  async function handle(c: Connection, req: Request): Promise<Reply> {
    const m = req.method;
    if (m === "OPTIONS") return new Reply(200).set("Public", PUBLIC);
    if (!PUBLIC.split(", ").includes(m)) return new Reply(m === "ANNOUNCE" || m === "RECORD" ? 405 : 501, `${m} is not supported; this server only plays live cameras.\r\n`).set("Allow", PUBLIC);
    const t = parseTarget(req.uri, c.secure);
    if (t === "bad") return new Reply(404, `No such stream ${req.uri}; use rtsp://host:port/<site>.<camera>/<main|sub>.\r\n`);
    const sub = await authenticate(c, req.headers.get("authorization"));
    if (sub instanceof Reply) return sub;
    const wrong = sessionMatches(c, req);
    if (wrong) return wrong;
    switch (m) {
      case "GET_PARAMETER":
      case "SET_PARAMETER":
        return new Reply(200);
      case "DESCRIBE": {
        if (!t) return new Reply(404, "DESCRIBE needs a camera URL.\r\n");
        const denied = await authorize(c, sub, t);
        if (denied) return denied;
        const hub = await demandInit(c, t);
        if (hub instanceof Reply) return hub;
        return describe(t, hub);
      }
      case "SETUP":
        return setup(c, req, sub, t);
      case "PLAY": {
        const s = c.session;
        if (!s) return new Reply(454, "PLAY needs a session: SETUP first.\r\n");
        if (t && t.key !== s.target.key) return new Reply(459, "PLAY names another stream than this session's.\r\n");
        const info = formatRtpInfo([...s.tracks.entries()].map(([i, tr]) => ({ url: `${s.target.base}trackID=${i}`, seq: tr.seq })));
        const replay = c.demand.get(s.target.key)?.replay;
        if (replay) {
          const r = await replay.play(req.headers.get("range"), req.headers.get("scale"), req.headers.get("rate-control"));
          if ("status" in r) return replayRefusal(r);
          return new Reply(200).set("Session", formatSession(s.id, Math.round(timeoutMs / 1000))).set("Range", r.range).set("Scale", r.scale).set("RTP-Info", info);
        }
        return new Reply(200).set("Session", formatSession(s.id, Math.round(timeoutMs / 1000))).set("Range", "npt=now-").set("RTP-Info", info);
      }
      case "PAUSE": {
        const s = c.session;
        if (!s) return new Reply(454, "No session.\r\n");
        s.viewer?.remove();
        s.viewer = undefined;
        return new Reply(200).set("Session", s.id);
      }
      case "TEARDOWN": {
        const s = c.session;
        if (!s) return new Reply(454, "No session.\r\n");
        endSession(c, "teardown");
        const d = c.demand.get(s.target.key);
        d?.release();
        c.demand.delete(s.target.key);
        return new Reply(200).set("Session", s.id);
      }
    }
    return new Reply(501);
  }

  async function setup(c: Connection, req: Request, sub: Subject, t: Target | null): Promise<Reply> {
    if (!t) return new Reply(404, "SETUP needs a track URL.\r\n");
    const choice = parseTransport(req.headers.get("transport") ?? "").find((x) => x.protocol === "RTP/AVP/TCP");
    if (!choice) return new Reply(461, "Only RTP over the RTSP connection is offered (Transport: RTP/AVP/TCP;interleaved=0-1); use TCP (ffmpeg -rtsp_transport tcp, rtspsrc protocols=tcp).\r\n");
    let s = c.session;
    if (s && s.target.key !== t.key) return new Reply(459, "This connection already has a session for another stream; open another connection.\r\n");
    if (!s) {
      const denied = await authorize(c, sub, t);
      if (denied) return denied;
      const hub = await demandInit(c, t);
      if (hub instanceof Reply) return hub;
      const init = hub.initSegment!;
      s = {
        id: Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex"),
        target: t,
        user: sub.user,
        client: c.client,
        hub,
        configs: trackConfigs(init.bytes),
        defaults: trexDefaults(init.bytes),
        initBytes: init.bytes,
        tracks: new Map(),
        startedAt: clock.now(),
        audited: false,
        lastSr: new Map(),
      };
      c.session = s;
    }
    const idx = t.track ?? 0;
    const cfg = s.configs[idx];
    if (!cfg) return new Reply(404, `No track ${idx} in ${t.centralId}/${t.stream}.\r\n`);
    const used = new Set([...s.tracks.values()].map((x) => x.channel));
    let ch = choice.interleaved ? choice.interleaved[0] : idx * 2;
    if (!choice.interleaved) while (used.has(ch)) ch += 2;
    const track = new RtpTrack(cfg, payloadType(idx), ch);
    s.tracks.set(idx, track);
    const ssrc = track.ssrc.toString(16).padStart(8, "0").toUpperCase();
    return new Reply(200).set("Transport", formatTransport({ protocol: "RTP/AVP/TCP", lower: "TCP", unicast: true, interleaved: [ch, ch + 1], ssrc })).set("Session", formatSession(s.id, Math.round(timeoutMs / 1000)));
  }

  function startPlaying(c: Connection): void {
    const s = c.session;
    if (!s || s.viewer || c.closed) return;
    if (!s.audited) {
      s.audited = true;
      o.audit?.({ user: s.user, action: "view-live", siteId: s.target.siteId, cameraId: s.target.centralId, fromMs: clock.now(), outcome: "ok", detail: { via: "rtsp", stream: s.target.stream, client: s.client, session: s.id } });
      log.info("RTSP session playing", { conn: c.id, session: s.id, user: s.user, key: s.target.key, client: s.client });
    }
    let warned = false;
    const sink: ViewerSink = {
      sendText: (text) => {
        // Other messages ("time", "nosignal", "cut") mean nothing to RTSP; only "end" closes.
        if ((JSON.parse(text) as { type?: string }).type === "end") closeConn(c, "live stream ended");
      },
      sendBinary: (bytes) => {
        if (c.closed || c.session !== s) return;
        try {
          if (isInit(bytes)) return onInit(c, s, bytes);
          const frames: Uint8Array[] = [];
          for (const sample of fragmentSamples(bytes, s.configs, s.defaults)) {
            const idx = s.configs.findIndex((x) => x.trackId === sample.trackId);
            const tr = s.tracks.get(idx);
            if (!tr) continue;
            for (const p of tr.packetize(sample)) frames.push(interleave(tr.channel, p));
            const now = clock.now();
            const cfg = s.configs[idx]!;
            s.epochMs ??= now - ((sample.dts + sample.cts) * 1000) / cfg.timescale;
            if (now - (s.lastSr.get(idx) ?? 0) >= SR_INTERVAL_MS) {
              s.lastSr.set(idx, now);
              frames.push(interleave(tr.channel + 1, tr.senderReport(sample.dts + sample.cts, s.epochMs)));
            }
          }
          if (frames.length) c.sock.write(Buffer.concat(frames));
        } catch (e) {
          if (!warned) log.warn("RTSP out could not packetize a fragment", { key: s.target.key, err: (e as Error).message });
          warned = true;
        }
      },
      buffered: () => c.sock.writableLength,
      close: () => closeConn(c, "live stream closed"),
    };
    s.viewer = s.hub.addViewer(sink);
    c.demand.get(s.target.key)?.replay?.start();
  }

  function onInit(c: Connection, s: Session, bytes: Uint8Array): void {
    if (s.initBytes === bytes) return;
    const next = trackConfigs(bytes);
    const same = next.length === s.configs.length && next.every((n, i) => n.kind === s.configs[i]!.kind && n.codec === s.configs[i]!.codec && n.trackId === s.configs[i]!.trackId);
    if (!same) {
      // A different track layout cannot be announced inside a running RTSP session: the player reconnects.
      log.info("RTSP session closed: the camera's stream format changed", { session: s.id, key: s.target.key });
      return closeConn(c, "stream format changed");
    }
    s.configs = next;
    s.defaults = trexDefaults(bytes);
    s.initBytes = bytes;
    for (const [i, tr] of s.tracks) tr.config = next[i]!; // new parameter sets go in band before the next keyframe
  }

  function hostFor(): string {
    return host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  }

  const listen = (srv: net.Server, p: number) =>
    new Promise<number>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(p, o.host ?? "127.0.0.1", () => {
        srv.off("error", reject);
        resolve((srv.address() as net.AddressInfo).port);
      });
    });
  host = o.host ?? "127.0.0.1";
  let port: number | undefined;
  let tlsPort: number | undefined;
  try {
    if (tlsServer) tlsPort = await listen(tlsServer, o.tls!.port);
    if (server) port = await listen(server, o.port!);
  } catch (e) {
    clearInterval(sweep);
    tlsServer?.close();
    throw e;
  }
  const baseUrl = tlsPort !== undefined ? `rtsps://${hostFor()}:${tlsPort}` : `rtsp://${hostFor()}:${port}`;
  if (tlsPort !== undefined) log.info("RTSPS out listening", { url: `rtsps://${hostFor()}:${tlsPort}/` });
  if (port !== undefined) log.info("plain RTSP out listening", { url: `rtsp://${hostFor()}:${port}/`, passwords: plainPasswords });

  return {
    host,
    ...(port !== undefined ? { port } : {}),
    ...(tlsPort !== undefined ? { tlsPort } : {}),
    baseUrl,
    url: (id, stream) => `${baseUrl}/${encodeURIComponent(id)}${stream ? `/${stream}` : ""}`,
    playing: () => [...conns].filter((c) => c.session?.viewer).length,
    async close() {
      clearInterval(sweep);
      for (const c of [...conns]) closeConn(c, "server closing");
      await Promise.all([server, tlsServer].map((srv) => (srv ? new Promise<void>((r) => srv.close(() => r())) : undefined)));
    },
  };
}

/** `?from=&to=` (ISO times) on a replay URI; {} when absent. */
function replayWindow(uri: string): { fromMs?: number; toMs?: number } | "bad" {
  const q = new URLSearchParams(uri.includes("?") ? uri.slice(uri.indexOf("?") + 1) : "");
  const at = (k: string) => (q.has(k) ? Date.parse(q.get(k)!) : undefined);
  const fromMs = at("from");
  const toMs = at("to");
  if (Number.isNaN(fromMs) || Number.isNaN(toMs)) return "bad";
  return { ...(fromMs !== undefined ? { fromMs } : {}), ...(toMs !== undefined ? { toMs } : {}) };
}

function replayRefusal(r: { status: number; message: string; retryAfterS?: number }): Reply {
  const reply = new Reply(r.status, `${r.message}\r\n`);
  return r.retryAfterS ? reply.set("Retry-After", String(r.retryAfterS)) : reply;
}

function isInit(b: Uint8Array): boolean {
  if (b.length < 8) return false;
  const t = String.fromCharCode(b[4]!, b[5]!, b[6]!, b[7]!);
  return t === "ftyp" || t === "moov";
}
