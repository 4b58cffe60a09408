/**
 * central/firmware/: firmware releases and staged campaigns at central. Owns its files under
 * DATA/firmware/ (roots/N.json, releases/V/{bundle,targets.json,chunks.json},
 * campaigns/ID.json) and the routes it mounts through startCentral's hooks:
 *   user API  /api/v1/firmware/…        (admin: roots, releases, campaigns, halt/resume)
 *   federation /federation/v1/firmware/… (edges: offer, roots, targets, chunks, bundle with Range, status)
 * Central never holds a signing key: it re-verifies what the admin uploads against the update
 * root and serves it; edges verify again. Must not touch other central modules' tables or files.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import type { Context, Hono } from "hono";
import { z } from "zod";
import { systemClock, iso, type Clock } from "../../lib/clock.ts";
import { createLogger, type Logger } from "../../lib/log/index.ts";
import { badRequest, conflict, forbidden, jsonBody, notFound, readJson } from "../../lib/http/problem.ts";
import { chunkBundle } from "../../firmware/chunk.ts";
import { hashFile, readJsonFile, sha256Hex, writeAtomic } from "../../firmware/fsutil.ts";
import { compareVersions, parseRoot, UpdateError, verifyNextRoot, verifyRole, verifyTargets, type RootMeta, type TargetsMeta } from "../../firmware/meta.ts";
import { FIRMWARE_FEDERATION_BASE, type Offer, type SiteUpdateState, type StatusReport } from "../../federation/firmware.ts";
import type { ApiRouter, FederationEnv } from "../index.ts";

export type CampaignState = "running" | "halted" | "completed";

export interface SiteStatus {
  state: SiteUpdateState;
  progress: number;
  reason?: string;
  running?: string;
  bytesFetched?: number;
  bytesSaved?: number;
  updatedAt: string;
}

export interface Campaign {
  id: string;
  version: string;
  createdAt: string;
  createdBy: string;
  state: CampaignState;
  haltReason?: string;
  /** Cumulative percentages, ascending, last is 100. */
  stages: number[];
  stage: number;
  maxFailureRate: number;
  /** Rollout order (deterministic shuffle of the targeted sites). */
  sites: string[];
  status: Record<string, SiteStatus>;
  startedAt: string;
  completedAt?: string;
}

export interface ReleaseView {
  version: string;
  targetsVersion: number;
  expires: string;
  minFromVersion: string;
  builtAt: string;
  bundle: { sha256: string; length: number };
  chunks: number;
}

/** How central tells edges that an offer is waiting; edges poll /offer when there is none. */
export interface CampaignNotifier {
  notify(siteIds: string[], offer: Offer): void;
}

export interface FirmwareOptions {
  dataDir: string;
  /** Ids of all enrolled sites (a campaign without `sites` targets all). */
  sites: () => string[];
  clock?: Clock;
  log?: Logger;
  notifier?: CampaignNotifier;
}

const CampaignRequest = z.object({
  version: z.string().regex(/^\d+\.\d+\.\d+$/),
  sites: z.array(z.string().min(1).max(100)).min(1).max(100_000).optional(),
  stages: z.array(z.number().positive().max(100)).min(1).max(20).default([1, 10, 100]),
  maxFailureRate: z.number().min(0).max(1).default(0.2),
});

const Report = z.object({
  campaignId: z.string().nullable(),
  version: z.string(),
  state: z.enum(["pending", "downloading", "installed", "healthy", "rolled-back", "failed"]),
  progress: z.number().min(0).max(100).optional(),
  reason: z.string().max(2000).optional(),
  bytesFetched: z.number().int().min(0).optional(),
  bytesSaved: z.number().int().min(0).optional(),
  running: z.string().max(50).optional(),
});

const TERMINAL: SiteUpdateState[] = ["healthy", "rolled-back", "failed"];
const FAILED: SiteUpdateState[] = ["rolled-back", "failed"];

export class FirmwareService {
  private roots: RootMeta[] = [];
  private releases = new Map<string, ReleaseView>();
  private campaigns = new Map<string, Campaign>();
  private readonly dir: string;
  private readonly clock: Clock;
  private readonly log: Logger;

  private constructor(private readonly o: FirmwareOptions) {
    this.dir = path.join(o.dataDir, "firmware");
    this.clock = o.clock ?? systemClock;
    this.log = o.log ?? createLogger("central.firmware");
  }

  static async open(o: FirmwareOptions): Promise<FirmwareService> {
    const s = new FirmwareService(o);
    await s.load();
    return s;
  }

  private p = {
    root: (n: number) => path.join(this.dir, "roots", `${n}.json`),
    rel: (v: string) => path.join(this.dir, "releases", v),
    camp: (id: string) => path.join(this.dir, "campaigns", `${id}.json`),
  };

  private async load(): Promise<void> {
    for (const d of ["roots", "releases", "campaigns"]) await fs.mkdir(path.join(this.dir, d), { recursive: true, mode: 0o700 });
    for (let n = 1; ; n++) {
      const r = await readJsonFile<unknown>(this.p.root(n));
      if (!r) break;
      this.roots.push(parseRoot(r));
    }
    for (const v of await fs.readdir(path.join(this.dir, "releases"))) {
      const view = await readJsonFile<ReleaseView>(path.join(this.p.rel(v), "release.json"));
      if (view) this.releases.set(v, view);
    }
    for (const f of await fs.readdir(path.join(this.dir, "campaigns"))) {
      if (!f.endsWith(".json")) continue;
      const c = await readJsonFile<Campaign>(path.join(this.dir, "campaigns", f));
      if (c) this.campaigns.set(c.id, c);
    }
  }

  /** Sets how edges hear of a new stage (e.g. commandNotifier over the control plane); without one, edges poll. */
  setNotifier(n: CampaignNotifier | undefined): void {
    this.o.notifier = n;
  }

  latestRoot(): RootMeta | null {
    return this.roots[this.roots.length - 1] ?? null;
  }

  /** Adds root version 1 (self-signed) or the next root of the chain (signed by old and new keys). */
  async addRoot(raw: unknown): Promise<RootMeta> {
    const cur = this.latestRoot();
    let r: RootMeta;
    if (!cur) {
      r = parseRoot(raw);
      if (r.signed.version !== 1) throw new UpdateError("bad-metadata", `the first root must be version 1, got ${r.signed.version}`);
      await verifyRole(r, r.signed, "root", "root v1");
    } else r = await verifyNextRoot(cur.signed, raw);
    await writeAtomic(this.p.root(r.signed.version), JSON.stringify(r, null, 2) + "\n");
    this.roots.push(r);
    this.log.info("update root added", { version: r.signed.version });
    return r;
  }

  root(n: number): RootMeta | null {
    return this.roots[n - 1] ?? null;
  }

  listReleases(): ReleaseView[] {
    return [...this.releases.values()].sort((a, b) => compareVersions(a.version, b.version));
  }

  /** Stores a signed release after checking it against the current root; `bundle` is moved/copied in. */
  async addRelease(bundle: Blob | string, targetsRaw: unknown): Promise<ReleaseView> {
    const root = this.latestRoot();
    if (!root) throw new UpdateError("not-found", "upload the update root (POST /api/v1/firmware/roots) before a release");
    const t: TargetsMeta = await verifyTargets(targetsRaw, { root: root.signed, now: this.clock.now(), lastTargetsVersion: 0, currentRelease: null }, { forInstall: false });
    const v = t.signed.release.version;
    if (this.releases.has(v)) throw new UpdateError("rollback", `release ${v} exists already`);
    for (const r of this.releases.values())
      if (r.targetsVersion >= t.signed.version) throw new UpdateError("rollback", `targets version ${t.signed.version} is not above release ${r.version}'s ${r.targetsVersion}`);
    const dir = this.p.rel(v);
    const tmp = `${dir}.tmp`;
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.mkdir(tmp, { recursive: true, mode: 0o700 });
    const file = path.join(tmp, "bundle");
    await Bun.write(file, typeof bundle === "string" ? Bun.file(bundle) : bundle);
    const h = await hashFile(file);
    if (h.sha256 !== t.signed.bundle.sha256 || h.length !== t.signed.bundle.length) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw new UpdateError("hash-mismatch", `the bundle (${h.length} bytes) does not match the signed targets (${t.signed.bundle.length} bytes, SHA-256 ${t.signed.bundle.sha256.slice(0, 12)}…)`);
    }
    const chunks = await chunkBundle(file, h.sha256);
    await writeAtomic(path.join(tmp, "targets.json"), JSON.stringify(t));
    await writeAtomic(path.join(tmp, "chunks.json"), JSON.stringify(chunks));
    const view: ReleaseView = {
      version: v,
      targetsVersion: t.signed.version,
      expires: t.signed.expires,
      minFromVersion: t.signed.release.minFromVersion,
      builtAt: t.signed.release.builtAt,
      bundle: { sha256: h.sha256, length: h.length },
      chunks: chunks.chunks.length,
    };
    await writeAtomic(path.join(tmp, "release.json"), JSON.stringify(view));
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(tmp, dir);
    this.releases.set(v, view);
    this.log.info("release added", { version: v, bytes: h.length, chunks: chunks.chunks.length });
    return view;
  }

  releaseFile(v: string, name: "bundle" | "targets.json" | "chunks.json"): string {
    if (!this.releases.has(v)) throw new UpdateError("not-found", `no release ${v}`);
    return path.join(this.p.rel(v), name);
  }

  async createCampaign(req: z.input<typeof CampaignRequest>, by: string): Promise<Campaign> {
    const r = CampaignRequest.parse(req);
    if (!this.releases.has(r.version)) throw new UpdateError("not-found", `no release ${r.version}; upload it first`);
    const stages = [...new Set(r.stages)].sort((a, b) => a - b);
    if (stages[stages.length - 1] !== 100) stages.push(100);
    const known = new Set(this.o.sites());
    const targets = r.sites ?? [...known];
    const unknown = targets.filter((s) => !known.has(s));
    if (unknown.length) throw new UpdateError("not-found", `unknown site(s): ${unknown.slice(0, 5).join(", ")}`);
    if (!targets.length) throw new UpdateError("not-found", "no sites to update");
    const id = crypto.randomUUID();
    const now = iso(this.clock.now());
    const order = [...new Set(targets)].sort((a, b) => (sha256Hex(id + a) < sha256Hex(id + b) ? -1 : 1));
    const c: Campaign = {
      id,
      version: r.version,
      createdAt: now,
      createdBy: by,
      state: "running",
      stages,
      stage: 0,
      maxFailureRate: r.maxFailureRate,
      sites: order,
      status: Object.fromEntries(order.map((s) => [s, { state: "pending" as const, progress: 0, updatedAt: now }])),
      startedAt: now,
    };
    this.campaigns.set(id, c);
    await this.save(c);
    this.log.info("campaign started", { id, version: r.version, sites: order.length, stages });
    this.notifyStage(c);
    return c;
  }

  campaign(id: string): Campaign | null {
    return this.campaigns.get(id) ?? null;
  }

  listCampaigns(): Campaign[] {
    return [...this.campaigns.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  }

  async halt(id: string, reason: string): Promise<Campaign> {
    const c = this.must(id);
    if (c.state !== "running") throw new UpdateError("bad-metadata", `campaign is ${c.state}`);
    c.state = "halted";
    c.haltReason = reason;
    await this.save(c);
    return c;
  }

  async resume(id: string): Promise<Campaign> {
    const c = this.must(id);
    if (c.state !== "halted") throw new UpdateError("bad-metadata", `campaign is ${c.state}`);
    c.state = "running";
    delete c.haltReason;
    await this.evaluate(c);
    return c;
  }

  private must(id: string): Campaign {
    const c = this.campaigns.get(id);
    if (!c) throw new UpdateError("not-found", `no campaign ${id}`);
    return c;
  }

  stageSize(c: Campaign, stage = c.stage): number {
    return Math.min(c.sites.length, Math.max(1, Math.ceil((c.stages[stage]! * c.sites.length) / 100)));
  }

  /** What a site should install now, if anything. */
  offerFor(siteId: string): Offer | null {
    for (const c of this.listCampaigns()) {
      if (c.state !== "running") continue;
      const i = c.sites.indexOf(siteId);
      if (i < 0 || i >= this.stageSize(c)) continue;
      const s = c.status[siteId]!;
      if (TERMINAL.includes(s.state)) continue;
      return { campaignId: c.id, version: c.version };
    }
    return null;
  }

  async report(siteId: string, raw: StatusReport): Promise<void> {
    const r = Report.parse(raw);
    if (!r.campaignId) return;
    const c = this.campaigns.get(r.campaignId);
    if (!c || !(siteId in c.status)) throw new UpdateError("not-found", `site ${siteId} is not in campaign ${r.campaignId}`);
    if (r.version !== c.version) return;
    const prev = c.status[siteId]!;
    // A late "downloading" must not overwrite a final answer.
    if (TERMINAL.includes(prev.state) && !TERMINAL.includes(r.state)) return;
    c.status[siteId] = {
      state: r.state,
      progress: r.state === "downloading" ? (r.progress ?? prev.progress) : TERMINAL.includes(r.state) || r.state === "installed" ? 100 : prev.progress,
      ...(r.reason ? { reason: r.reason } : {}),
      running: r.running ?? prev.running,
      bytesFetched: r.bytesFetched ?? prev.bytesFetched,
      bytesSaved: r.bytesSaved ?? prev.bytesSaved,
      updatedAt: iso(this.clock.now()),
    };
    await this.evaluate(c);
  }

  /** Halt on a failure rate above the threshold; advance when a stage is done; complete at the end. */
  private async evaluate(c: Campaign): Promise<void> {
    if (c.state === "running") {
      for (;;) {
        const n = this.stageSize(c);
        const stage = c.sites.slice(0, n).map((s) => c.status[s]!);
        const failed = stage.filter((s) => FAILED.includes(s.state)).length;
        if (failed / n > c.maxFailureRate) {
          c.state = "halted";
          c.haltReason = `stage ${c.stage + 1} (${c.stages[c.stage]} %): ${failed} of ${n} sites failed or rolled back, above the ${Math.round(c.maxFailureRate * 100)} % threshold`;
          this.log.warn("campaign halted", { id: c.id, reason: c.haltReason });
          break;
        }
        if (!stage.every((s) => TERMINAL.includes(s.state))) break;
        if (c.stage === c.stages.length - 1) {
          c.state = "completed";
          c.completedAt = iso(this.clock.now());
          this.log.info("campaign completed", { id: c.id });
          break;
        }
        c.stage++;
        this.notifyStage(c);
      }
    }
    await this.save(c);
  }

  private notifyStage(c: Campaign): void {
    if (!this.o.notifier || c.state !== "running") return;
    const ids = c.sites.slice(0, this.stageSize(c)).filter((s) => !TERMINAL.includes(c.status[s]!.state));
    this.o.notifier.notify(ids, { campaignId: c.id, version: c.version });
  }

  private save(c: Campaign): Promise<void> {
    return writeAtomic(this.p.camp(c.id), JSON.stringify(c));
  }

  summary(c: Campaign) {
    const counts: Record<string, number> = {};
    for (const s of Object.values(c.status)) counts[s.state] = (counts[s.state] ?? 0) + 1;
    return { id: c.id, version: c.version, state: c.state, haltReason: c.haltReason, stage: c.stage + 1, stages: c.stages, stageSize: this.stageSize(c), maxFailureRate: c.maxFailureRate, sites: c.sites.length, counts, createdAt: c.createdAt, completedAt: c.completedAt };
  }

  // ---------- routes

  /** Firmware is fleet-wide: every route needs admin-sites for everything ('*'). */
  apiRoutes(api: ApiRouter): void {
    const base = "/api/v1/firmware";
    const tag = "firmware";
    const rights = { right: "admin-sites" } as const;
    api.route({ method: "get", path: `${base}/roots`, summary: "Trusted firmware root metadata versions", tag, rights }, (c) => c.json({ roots: this.roots }));
    api.route({ method: "post", path: `${base}/roots`, summary: "Add the next root version (signed by the current root's threshold)", tag, rights, bodyDoc: { type: "application/json" }, status: 201 }, async (c) => {
      const body = await jsonBody(c);
      return c.json(await guard(() => this.addRoot(body)), 201);
    });
    api.route({ method: "get", path: `${base}/releases`, summary: "Uploaded releases", tag, rights }, (c) => c.json({ releases: this.listReleases() }));
    api.route({ method: "post", path: `${base}/releases`, summary: "Upload a release: multipart 'bundle' (the .bundle file) and 'targets' (its signed targets.json)", tag, rights, bodyDoc: { type: "multipart/form-data" }, status: 201 }, async (c) => {
      const form = await c.req.formData().catch(() => null);
      const bundle = form?.get("bundle");
      const targets = form?.get("targets");
      if (!(bundle instanceof Blob) || targets === null || targets === undefined)
        throw badRequest("Send multipart/form-data with 'bundle' (the .bundle file) and 'targets' (its signed targets.json).");
      let t: unknown;
      try {
        t = JSON.parse(typeof targets === "string" ? targets : await (targets as Blob).text());
      } catch {
        throw badRequest("'targets' is not JSON.");
      }
      return c.json(await guard(() => this.addRelease(bundle, t)), 201);
    });
    api.route({ method: "get", path: `${base}/campaigns`, summary: "Staged roll-out campaigns", tag, rights }, (c) => c.json({ campaigns: this.listCampaigns().map((x) => this.summary(x)) }));
    api.route({ method: "post", path: `${base}/campaigns`, summary: "Start a staged roll-out campaign", tag, rights, body: CampaignRequest, status: 201 }, async (c, { body }) => {
      const camp = await guard(() => this.createCampaign(body, c.var.session.user));
      return c.json(this.view(camp), 201);
    });
    api.route({ method: "get", path: `${base}/campaigns/:id`, summary: "One campaign with every site's state", tag, rights }, (c) => c.json(this.view(guardSync(() => this.must(c.req.param("id"))))));
    api.route({ method: "post", path: `${base}/campaigns/:id/halt`, summary: "Halt a campaign", tag, rights }, async (c) => c.json(this.view(await guard(() => this.halt(c.req.param("id"), `halted by ${c.var.session.user}`)))));
    api.route({ method: "post", path: `${base}/campaigns/:id/resume`, summary: "Resume a halted campaign", tag, rights }, async (c) => c.json(this.view(await guard(() => this.resume(c.req.param("id"))))));
  }

  view(c: Campaign) {
    return { ...this.summary(c), sites: c.sites.map((id, i) => ({ site: id, inStage: i < this.stageSize(c), ...c.status[id]! })) };
  }

  federationRoutes(app: Hono<FederationEnv>): void {
    const base = FIRMWARE_FEDERATION_BASE;
    app.get(`${base}/offer`, (c) => c.json({ offer: this.offerFor(c.var.peer.siteId) }));
    app.get(`${base}/roots/:n`, (c) => {
      const r = this.root(Number(c.req.param("n")));
      if (!r) throw notFound(`No root version ${c.req.param("n")}.`);
      return c.json(r);
    });
    const file = (c: Context, name: "targets.json" | "chunks.json" | "bundle") => guardSync(() => this.releaseFile(c.req.param("v")!, name));
    app.get(`${base}/releases/:v/targets`, (c) => new Response(Bun.file(file(c, "targets.json")), { headers: { "content-type": "application/json" } }));
    app.get(`${base}/releases/:v/chunks`, (c) => new Response(Bun.file(file(c, "chunks.json")), { headers: { "content-type": "application/json" } }));
    app.get(`${base}/releases/:v/bundle`, (c) => rangeResponse(file(c, "bundle"), c.req.header("range")));
    app.post(`${base}/status`, async (c) => {
      const body = await readJson(c, Report);
      await guard(() => this.report(c.var.peer.siteId, body));
      return c.json({ ok: true });
    });
  }
}

/** Range support by hand: the federation listener is node:http, which does not do it for us. */
function rangeResponse(file: string, range: string | undefined): Response {
  const f = Bun.file(file);
  const size = f.size;
  if (!range) return new Response(f.stream(), { headers: { "content-length": String(size), "accept-ranges": "bytes", "content-type": "application/octet-stream" } });
  const m = /^bytes=(\d+)-(\d*)$/.exec(range.trim());
  const start = m ? Number(m[1]) : NaN;
  const end = m && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  if (!m || start >= size || end < start) return new Response(null, { status: 416, headers: { "content-range": `bytes */${size}` } });
  return new Response(f.slice(start, end + 1).stream(), {
    status: 206,
    headers: { "content-range": `bytes ${start}-${end}/${size}`, "content-length": String(end - start + 1), "accept-ranges": "bytes", "content-type": "application/octet-stream" },
  });
}

function mapError(e: unknown): never {
  if (e instanceof UpdateError) {
    if (e.code === "not-found") throw notFound(e.message);
    if (e.code === "rollback") throw conflict(e.message);
    throw badRequest(e.message);
  }
  if (e instanceof z.ZodError) throw badRequest(e.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  throw e;
}

async function guard<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    return mapError(e);
  }
}

function guardSync<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    return mapError(e);
  }
}

/** Notifier over central's MQTT broker: `outpost/v1/sites/<id>/firmware/offer` (QoS 1). */
export function mqttNotifier(broker: { publish(packet: object, cb: (err?: Error) => void): void }, topicRoot: (siteId: string) => string): CampaignNotifier {
  return {
    notify(siteIds, offer) {
      for (const id of siteIds) broker.publish({ cmd: "publish", topic: `${topicRoot(id)}/firmware/offer`, payload: Buffer.from(JSON.stringify(offer)), qos: 1, retain: false, dup: false }, () => {});
    },
  };
}

/** Name of the control-plane command that makes an edge's agent check for an offer now. */
export const FIRMWARE_CHECK_COMMAND = "_firmware-check";

/**
 * Notifier over issue 4's command path (central/sites `sendCommand`): an internal command
 * (leading "_": no result is reported back) that the edge maps to agent.checkNow().
 */
export function commandNotifier(send: (siteId: string, name: string, args: Record<string, unknown>, ttlMs: number) => Promise<unknown>, log?: Logger): CampaignNotifier {
  return {
    notify(siteIds, offer) {
      for (const id of siteIds) void send(id, FIRMWARE_CHECK_COMMAND, { campaignId: offer.campaignId, version: offer.version }, 3_600_000).catch((e) => log?.warn("firmware notify failed", { site: id, err: e as Error }));
    },
  };
}
