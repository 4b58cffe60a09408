/**
 * Sites: the control plane object central holds — the mirror database, the message processor
 * (ControlPlane) and the queries behind the API (cameras, timeline, config, commands, health).
 */
import { iso, type Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { DesiredConfig, PROTOCOL_VERSION, centralCameraId, topics, type UpBody } from "../../federation/protocol/index.ts";
import type { Db } from "../db.ts";
import { tableFingerprint, type Database } from "../db/index.ts";
import type { EdgeIndex } from "../mirror/index.ts";
import type { Bus } from "./bus.ts";
import { CAMERAS_CHANNEL, ControlPlane, type SiteEvent, type SiteOwnership } from "./control.ts";
import { mergeHoldings, mergeRanges, type Range } from "./api.ts";
import { qualityRanges } from "./quality.ts";


type CameraRow = { site_id: string; camera_id: string; name: string; enabled: boolean; streams: string; updated_ms: number };
export interface SitesOptions {
  /** The edge-index mirror (central/mirror): the control plane writes it, the timeline reads it. */
  mirror: EdgeIndex;
  clock: Clock;
  log: Logger;
  /** An active site: its messages are stored, configs and commands go to it. */
  siteExists: (siteId: string) => boolean;
  /**
   * A site central knows in any state (active or revoked). A revoked site's cameras stay
   * listed (marked revoked) so what central holds of them stays playable and exportable —
   * a stolen vehicle is when that footage matters most. Default: siteExists.
   */
  siteKnown?: (siteId: string) => boolean;
  /** Whether a site has a live MQTT session (embedded broker); default: heard from within onlineWindowMs. */
  isOnline?: (siteId: string) => boolean;
  onlineWindowMs?: number;
  /** Presence of a site another node owns (central/cluster/presence.ts); undefined: this node's own knowledge answers. */
  remotePresence?: (siteId: string) => { online: boolean } | undefined;
  /**
   * Last health reports of sites another node owns, as their owners carried them to the shared
   * table (central/cluster/presence.ts): all of them, or one site's. Absent: only this node's own.
   */
  remoteHealth?: { all: () => [string, SiteHealth][]; of: (siteId: string) => SiteHealth | undefined };
  onSiteEvent?: (e: SiteEvent) => void;
  /** What central itself holds for a camera (the transfer engine plugs in here); default nothing. */
  centralRanges?: (centralCameraId: string, stream: string, fromMs: number, toMs: number) => Promise<Range[]>;
  healthRetentionMs?: number;
  /** The sites this central node handles (central/cluster); absent = all. */
  ownership?: SiteOwnership;
  /** ControlOptions.batchLingerMs. */
  batchLingerMs?: number;
}

/** A site's last health report and when the edge made it. */
export interface SiteHealth {
  atMs: number;
  body: UpBody<"health">;
}

export interface CentralCamera {
  id: string;
  siteId: string;
  channel: string;
  name: string;
  enabled: boolean;
  online: boolean;
  /** The site is revoked: nothing live, nothing more from the edge; central's copy stays. */
  revoked: boolean;
  streams: { kind: string; codec?: string; width?: number; height?: number; status: string; reason?: string; bitrateKbps?: number; fps?: number }[];
  updatedAt: string;
}

export class Sites {
  readonly clock: Clock;
  control!: ControlPlane;
  private bus!: Bus;
  private purgeTimer: ReturnType<typeof setInterval> | null = null;
  /** Device trees committed by other nodes as far as this one learnt (NOTIFY, or the heartbeat's fallback). */
  private treesElsewhere = 0;
  private unlistenTrees: (() => Promise<void>) | null = null;

  private readonly db: Database;

  constructor(private readonly o: SitesOptions) {
    this.clock = o.clock;
    this.db = o.mirror.db;
  }

  siteExists(id: string): boolean {
    return this.o.siteExists(id);
  }

  /** The mirror's database (central's, with the cp_* tables). */
  get mirrorDb(): Database {
    return this.db;
  }

  /** The fleet's DuckDB file (central/fleet reads tracks and positions from it). */
  get fleetDb(): Db {
    return this.o.mirror.fleet;
  }

  /** Starts the control plane on `bus` (called once, by openSites). */
  async start(bus: Bus): Promise<void> {
    this.bus = bus;
    // Another node committed a device tree (or this one did: a harmless extra re-read).
    this.unlistenTrees = await this.db.listen(CAMERAS_CHANNEL, () => this.camerasChanged());
    this.control = new ControlPlane({ db: this.db, fleet: this.o.mirror.fleet, bus, clock: this.o.clock, log: this.o.log, onSiteEvent: this.o.onSiteEvent, siteExists: this.o.siteExists, ownership: this.o.ownership, batchLingerMs: this.o.batchLingerMs });
    await this.control.init();
    // Retained messages may not survive a broker restart (aedes keeps them in memory): publish again.
    await this.republishConfigs();
    // An external broker's reconnect: central missed what edges published meanwhile (see ControlPlane.resubscribed).
    bus.onConnectionLost = () => this.control.connectionLost();
    bus.onReconnect = () => {
      void this.control.resubscribed().catch((e) => this.o.log.error("asking edges to re-send failed", { err: e as Error }));
      void this.republishConfigs().catch((e) => this.o.log.error("re-publishing desired configs failed", { err: e as Error }));
    };
    const keep = this.o.healthRetentionMs ?? 7 * 86_400_000;
    this.purgeTimer = setInterval(() => {
      const before = this.o.clock.now() - keep;
      void Promise.all([this.db.run(`DELETE FROM cp_health WHERE at_ms < $1`, [before]), this.db.run(`DELETE FROM cp_telemetry WHERE at_ms < $1`, [before])]).catch((e) => this.o.log.error("health purge failed", { err: e as Error }));
    }, Math.min(600_000, keep));
  }

  private async republishConfigs(): Promise<void> {
    const rows = await this.db.query<{ site_id: string; version: string; config: string; created_ms: string }>(
      `SELECT d.site_id, d.version, d.config, d.created_ms FROM cp_desired d JOIN (SELECT site_id, max(version) AS v FROM cp_desired GROUP BY site_id) m ON d.site_id = m.site_id AND d.version = m.v`,
    );
    for (const r of rows) if (this.o.siteExists(r.site_id)) await this.publishConfig(r.site_id, Number(r.version), JSON.parse(r.config), Number(r.created_ms));
  }

  async close(): Promise<void> {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    await this.unlistenTrees?.().catch(() => undefined);
    this.unlistenTrees = null;
    await this.control?.idle();
    await this.bus?.close();
  }

  /** Online here, or — for a site another node owns — online as its owner wrote to the shared table. */
  online(siteId: string): boolean {
    return this.localOnline(siteId) || !!this.o.remotePresence?.(siteId)?.online;
  }

  /** What this node itself knows: the site's MQTT session (embedded broker), or a message within onlineWindowMs. */
  localOnline(siteId: string): boolean {
    if (this.o.isOnline) return this.o.isOnline(siteId);
    const t = this.control?.lastSeen.get(siteId);
    return t !== undefined && this.o.clock.now() - t < (this.o.onlineWindowMs ?? 90_000);
  }

  /**
   * The camera list is read again at next use: another node committed a device tree (its NOTIFY),
   * or — the fallback for a missed notification — a cluster heartbeat passed while other nodes
   * own sites (composeCentral calls it every round then).
   */
  camerasChanged(): void {
    this.treesElsewhere++;
  }

  /** cp_cameras' fingerprint at the last camerasMaybeChanged (null: not asked yet). */
  private camerasStamp: string | null = null;

  /**
   * The fallback for a missed notification, cheap: camerasChanged only if cp_cameras' fingerprint
   * (central/db tableFingerprint) moved since the last call — or at the first call — so a node
   * re-reads the fleet's camera rows when they changed, not every heartbeat.
   */
  async camerasMaybeChanged(): Promise<void> {
    const stamp = await tableFingerprint(this.db, "cp_cameras");
    if (stamp !== this.camerasStamp) this.camerasChanged();
    this.camerasStamp = stamp;
  }

  /** cp_cameras as last read, kept until a device tree is committed (here, or on another node). */
  private cameraRows: { version: string; rows: Promise<CameraRow[]> } | null = null;

  private readCameraRows(): Promise<CameraRow[]> {
    // Every live view and camera list reads this; without the cache each waited in the mirror's
    // single-connection queue behind control-plane batches (hundreds of ms per WebSocket open).
    const version = this.control ? `${this.control.treeVersion}/${this.treesElsewhere}` : undefined;
    if (version === undefined) return this.db.query<CameraRow>(`SELECT * FROM cp_cameras ORDER BY site_id, camera_id`);
    if (this.cameraRows?.version !== version) {
      const rows = this.db.query<CameraRow>(`SELECT * FROM cp_cameras ORDER BY site_id, camera_id`);
      const entry = { version, rows };
      this.cameraRows = entry;
      rows.catch(() => {
        if (this.cameraRows === entry) this.cameraRows = null;
      });
    }
    return this.cameraRows!.rows;
  }

  /** The cached rows grouped by site, and the rows promise they were built from (a new read builds them again). */
  private cameraIndex: { rows: Promise<CameraRow[]>; index: Promise<{ rows: Map<string, CameraRow[]>; channels: ReadonlyMap<string, readonly string[]> }> } | null = null;

  private indexed(): Promise<{ rows: Map<string, CameraRow[]>; channels: ReadonlyMap<string, readonly string[]> }> {
    const rows = this.readCameraRows();
    if (this.cameraIndex?.rows !== rows) {
      const index = rows.then((rs) => {
        const bySite = new Map<string, CameraRow[]>();
        for (const r of rs) {
          const list = bySite.get(r.site_id);
          if (list) list.push(r);
          else bySite.set(r.site_id, [r]);
        }
        return { rows: bySite, channels: new Map([...bySite].map(([id, list]) => [id, list.map((r) => r.camera_id)])) };
      });
      this.cameraIndex = { rows, index };
    }
    return this.cameraIndex.index;
  }

  /**
   * Camera ids (the edge's channels) per site, from the same cached read as cameras() but without
   * the health and presence each CentralCamera carries, and kept until the rows are read again:
   * per-site work — a site's plan, the owner's live recordings every engine tick — looks its own
   * sites up here. Building the whole fleet's camera views for it cost every node O(fleet
   * cameras) each time, whatever its share of the sites. Sites in any state: ask siteActive.
   */
  async camerasBySite(): Promise<ReadonlyMap<string, readonly string[]>> {
    return (await this.indexed()).channels;
  }

  /** One site's cameras as cameras() lists them (a rule's camera name, a live request): that site's views only. */
  async camerasOf(siteId: string): Promise<CentralCamera[]> {
    return ((await this.indexed()).rows.get(siteId) ?? []).filter((r) => (this.o.siteKnown ?? this.o.siteExists)(r.site_id)).map((r) => this.cameraView(r));
  }

  /** The active sites with cameras, from the camera rows alone (no view: a view asks for another node's site's presence and health). */
  async cameraSiteIds(): Promise<string[]> {
    return [...(await this.indexed()).rows.keys()].filter((id) => this.o.siteExists(id));
  }

  /** An active site (not revoked): its cameras are recorded and planned; a revoked site's stay listed as revoked. */
  siteActive(siteId: string): boolean {
    return this.o.siteExists(siteId);
  }

  async cameras(): Promise<CentralCamera[]> {
    const rows = await this.readCameraRows();
    const known = this.o.siteKnown ?? this.o.siteExists;
    return rows.filter((r) => known(r.site_id)).map((r) => this.cameraView(r));
  }

  private cameraView(r: CameraRow): CentralCamera {
    const revoked = !this.o.siteExists(r.site_id);
    const h = this.healthOf(r.site_id)?.body.streams ?? [];
    const streams = (JSON.parse(r.streams) as CentralCamera["streams"]).map((st) => {
      const hs = h.find((x) => x.cameraId === r.camera_id && x.stream === st.kind);
      return hs ? { ...st, status: hs.state, ...(hs.detail ? { reason: hs.detail } : {}), bitrateKbps: hs.bitrateKbps, fps: hs.fps } : st;
    });
    return {
      id: centralCameraId(r.site_id, r.camera_id),
      siteId: r.site_id,
      channel: r.camera_id,
      name: r.name,
      enabled: r.enabled,
      online: !revoked && this.online(r.site_id),
      revoked,
      streams,
      updatedAt: iso(Number(r.updated_ms)),
    };
  }


  /** Mirror view of one camera: edge ranges merged with central's, gaps, edge overwrite times. */
  async timeline(siteId: string, cameraId: string, stream: string, from: number, to: number) {
    const m = this.o.mirror;
    const segs = await m.segments(siteId, cameraId, stream, from, to);
    const gaps = await m.gaps(siteId, cameraId, stream, from, to);
    const locks = await m.locks(siteId, cameraId);
    const horizon = await m.horizon(siteId, cameraId, stream);
    const clip = (r: Range) => ({ startMs: Math.max(r.startMs, from), endMs: Math.min(r.endMs, to) });
    const edge = mergeRanges(segs.map((r) => ({ startMs: r.startMs, endMs: r.endMs }))).map(clip);
    const central = (await this.o.centralRanges?.(centralCameraId(siteId, cameraId), stream, from, to)) ?? [];
    // Main-stream timelines also say where central holds only the sub stream (progressive retrieval).
    const subHeld = stream === "main" ? ((await this.o.centralRanges?.(centralCameraId(siteId, cameraId), "sub", from, to)) ?? []) : [];
    const now = this.o.clock.now();
    const liveLocks = locks.filter((l) => l.expiresMs === null || l.expiresMs > now);
    // A revoked site's edge cannot be reached: only what central holds is footage to offer.
    const revoked = !this.o.siteExists(siteId);
    const ranges = mergeHoldings(revoked ? [] : edge, mergeRanges(central).map(clip)).map((p) => {
      const locked = liveLocks.some((l) => l.startMs < p.endMs && l.endMs > p.startMs);
      const overwrite = p.held === "central" || locked || horizon === null ? null : iso(p.startMs + horizon);
      return { start: iso(p.startMs), end: iso(p.endMs), held: p.held, locked, edgeOverwriteAt: overwrite };
    });
    return {
      camera: centralCameraId(siteId, cameraId),
      stream,
      from: iso(from),
      to: iso(to),
      edgeRetentionHorizonMs: horizon,
      ...(revoked ? { siteRevoked: true } : {}),
      ranges,
      /** What quality central holds where (main, or only sub). */
      centralQuality: qualityRanges(central.map(clip), subHeld.map(clip)).map((q) => ({ start: iso(q.startMs), end: iso(q.endMs), quality: q.quality })),
      gaps: gaps.map((g) => ({ start: iso(Math.max(g.startMs, from)), end: iso(Math.min(g.endMs, to)), reason: g.reason })),
    };
  }

  async setDesired(siteId: string, config: DesiredConfig, by: string): Promise<number> {
    const now = this.o.clock.now();
    // The next version in the statement itself: two nodes storing at once conflict on the key, never share a version.
    const [row] = await this.db.query<{ version: number }>(
      `INSERT INTO cp_desired (site_id, version, config, created_ms, created_by) SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4 FROM cp_desired WHERE site_id = $1 RETURNING version`,
      [siteId, JSON.stringify(config), now, by],
    );
    const version = Number(row!.version);
    await this.publishConfig(siteId, version, config, now);
    this.o.log.info("desired config stored", { site: siteId, version, by });
    return version;
  }

  private async publishConfig(siteId: string, version: number, config: unknown, issuedAt: number): Promise<void> {
    await this.bus.publish(topics.config(siteId), JSON.stringify({ v: PROTOCOL_VERSION, version, issuedAt, config }), true);
  }

  async configView(siteId: string) {
    const [d, a] = await Promise.all([
      this.db.query<{ version: number; config: string; created_ms: number; created_by: string }>(`SELECT version, config, created_ms, created_by FROM cp_desired WHERE site_id = $1 ORDER BY version DESC LIMIT 1`, [siteId]),
      this.db.query<{ version: number; state: string; reason: string | null; at_ms: number }>(`SELECT * FROM cp_applied WHERE site_id = $1`, [siteId]),
    ]);
    const desired = d[0] ? { version: Number(d[0].version), config: JSON.parse(d[0].config) as unknown, createdAt: iso(Number(d[0].created_ms)), createdBy: d[0].created_by } : null;
    const applied = a[0] ? { version: Number(a[0].version), state: a[0].state, reason: a[0].reason, at: iso(Number(a[0].at_ms)) } : null;
    return { desired, applied, inSync: !!desired && applied?.state === "applied" && applied.version === desired.version };
  }

  /** The latest desired config of each of `siteIds` that has one, in one statement (configView reads two per site). */
  async desiredConfigs(siteIds: readonly string[]): Promise<Map<string, unknown>> {
    if (!siteIds.length) return new Map();
    const rows = await this.db.query<{ site_id: string; config: string }>(
      `SELECT d.site_id, d.config FROM cp_desired d JOIN (SELECT site_id, max(version) AS v FROM cp_desired WHERE site_id IN (SELECT jsonb_array_elements_text($1::jsonb -> 's')) GROUP BY site_id) m ON d.site_id = m.site_id AND d.version = m.v`,
      [{ s: [...siteIds] }],
    );
    return new Map(rows.map((r) => [r.site_id, JSON.parse(r.config) as unknown]));
  }

  async command(siteId: string, name: string, args: Record<string, unknown>, ttlMs: number, by: string, id?: string) {
    const cid = id ?? crypto.randomUUID();
    const existing = await this.commandView(siteId, cid);
    if (existing) return existing;
    const now = this.o.clock.now();
    await this.db.run(`INSERT INTO cp_commands (id, site_id, name, args, created_ms, expires_ms, created_by, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')`, [cid, siteId, name, JSON.stringify(args), now, now + ttlMs, by]);
    await this.control.sendCommand(siteId, cid, name, args, now + ttlMs);
    return (await this.commandView(siteId, cid))!;
  }

  async commandView(siteId: string, id: string) {
    const r = (await this.db.query<Record<string, string | null>>(`SELECT * FROM cp_commands WHERE id = $1 AND site_id = $2`, [id, siteId]))[0];
    if (!r) return null;
    const expiresMs = Number(r.expires_ms);
    const status = r.status === "pending" && expiresMs <= this.o.clock.now() ? "expired" : r.status!;
    return {
      id: r.id!,
      site: siteId,
      name: r.name!,
      args: JSON.parse(r.args!) as unknown,
      status,
      createdAt: iso(Number(r.created_ms)),
      expiresAt: iso(expiresMs),
      createdBy: r.created_by,
      result: r.result ? (JSON.parse(r.result) as unknown) : null,
      error: r.error,
      doneAt: r.done_ms ? iso(Number(r.done_ms)) : null,
    };
  }

  async telemetry(siteId: string, kind: string, fromMs: number, toMs: number, limit: number) {
    const rows = await this.db.query<Record<string, string | null>>(
      `SELECT kind, camera_id, at_ms, data FROM cp_telemetry WHERE site_id = $1 AND kind = $2 AND at_ms >= $3 AND at_ms < $4 ORDER BY ob, seq LIMIT $5`,
      [siteId, kind, fromMs, toMs, limit],
    );
    return rows.map((r) => ({ kind: r.kind!, camera: r.camera_id, at: iso(Number(r.at_ms)), data: JSON.parse(r.data ?? "{}") as unknown }));
  }

  async events(siteId: string, after: number, limit: number) {
    const rows = await this.db.query<Record<string, string | null>>(
      `SELECT n, event_id, camera_id, kind, at_ms, data, seq FROM cp_events WHERE site_id = $1 AND n > $2 ORDER BY n LIMIT $3`,
      [siteId, after, limit],
    );
    return rows.map((r) => ({ n: Number(r.n), id: r.event_id!, camera: r.camera_id, kind: r.kind!, at: iso(Number(r.at_ms)), seq: Number(r.seq), data: JSON.parse(r.data ?? "{}") as unknown }));
  }

  /** The link the edge last reported (cellular, wifi, …), for stream choice and transfer rules. */
  linkType(siteId: string): string | undefined {
    return this.healthOf(siteId)?.body.link.type;
  }

  /** A site's last health report: this node's own, or — for a site another node owns — the shared table's, whichever is newer. */
  healthOf(siteId: string): SiteHealth | undefined {
    const own = this.control?.latestHealth.get(siteId);
    const remote = this.o.remoteHealth?.of(siteId);
    return remote && (!own || remote.atMs > own.atMs) ? remote : own;
  }

  /**
   * The last health report of every site that sent one, from memory (the control plane keeps it
   * as it commits; sites another node owns as the shared table was last read): Admin → Health
   * asks once for the whole fleet, and this answer never waits in the database's queue behind
   * control-plane batches.
   */
  latestHealthAll(): { id: string; online: boolean; latest: UpBody<"health"> & { at: string } }[] {
    const known = this.o.siteKnown ?? this.o.siteExists;
    const ids = new Set([...(this.control?.latestHealth.keys() ?? []), ...(this.o.remoteHealth?.all() ?? []).map(([id]) => id)]);
    return [...ids]
      .filter((id) => known(id))
      .sort()
      .map((id) => ({ id, h: this.healthOf(id)! }))
      .map(({ id, h }) => ({ id, online: this.online(id), latest: { at: iso(h.atMs), ...h.body } }));
  }

  /** Extra fields for GET /api/v1/sites/{id}: latest health + 24 h history, config state, cameras. */
  async siteDetails(siteId: string) {
    const now = this.o.clock.now();
    // Queued together (on the server driver they run on pooled connections beside a control-plane batch).
    const [rows, config, cameras] = await Promise.all([
      this.db.query<{ at_ms: string; body: string }>(`SELECT at_ms, body FROM cp_health WHERE site_id = $1 AND at_ms >= $2 ORDER BY at_ms`, [siteId, now - 86_400_000]),
      this.configView(siteId),
      this.cameras(),
    ]);
    const history = rows.map((r) => {
      const b = JSON.parse(r.body) as UpBody<"health">;
      return {
        at: iso(Number(r.at_ms)),
        diskFreeBytes: b.disk.freeBytes,
        storeBytes: b.disk.storeBytes,
        streamsRecording: b.streams.filter((s) => s.state === "recording").length,
        streams: b.streams.length,
        bitrateKbps: Math.round(b.streams.reduce((a, s) => a + s.bitrateKbps, 0)),
        linkQuality: b.link.quality,
        outboxPending: b.outbox.pending,
      };
    });
    const latest = this.healthOf(siteId);
    return {
      online: this.online(siteId),
      health: { latest: latest ? { at: iso(latest.atMs), ...latest.body } : null, history },
      config,
      cameras: cameras.filter((c) => c.siteId === siteId).map((c) => c.id),
    };
  }
}
