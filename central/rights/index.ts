/**
 * central/rights/: what a user may do and see. Owns the rights vocabulary, grant scopes
 * (everything, a site, a camera, a camera group), the `requireRight` middleware and the
 * visibility filters every list endpoint uses (in memory for small lists, as SQL for tables).
 * Knows nothing of storage: users/roles/groups come from central/users, the camera → site map
 * from whoever mirrors the device tree (setCameraDirectory). Must not import other modules'
 * stores.
 */
import { z } from "zod";
import type { Context, MiddlewareHandler } from "hono";
import { forbidden, notFound } from "../../lib/http/problem.ts";

export const RIGHTS = [
  "view-live",
  "playback",
  "export",
  "retrieve",
  "evidence-lock",
  "ack-alarms",
  "admin-sites",
  "admin-policies",
  "admin-users",
] as const;
export const Right = z.enum(RIGHTS).describe("view-live, playback, export, retrieve (up to maxPriority), evidence-lock, ack-alarms, admin-sites, admin-policies, admin-users");
export type Right = z.infer<typeof Right>;

/** Highest first: evidence/alarm > user request > event > scheduled > gap backfill (DESIGN.md). */
export const PRIORITIES = ["alarm", "request", "event", "scheduled", "backfill"] as const;
export const RetrievalPriority = z.enum(PRIORITIES);
export type RetrievalPriority = z.infer<typeof RetrievalPriority>;
export const priorityRank = (p: RetrievalPriority) => PRIORITIES.length - PRIORITIES.indexOf(p);

export const Scope = z
  .string()
  .regex(/^(\*|(site|camera|group):.+)$/, "scope is '*', 'site:ID', 'camera:ID' or 'group:NAME'")
  .describe("'*' (everything), 'site:ID', 'camera:ID' or 'group:NAME' (camera group)");

export const Grant = z.object({
  rights: z.array(Right).min(1),
  scope: Scope,
  /** Only for `retrieve`: the highest transfer priority this grant allows (default "request"). */
  maxPriority: RetrievalPriority.optional(),
});
export type Grant = z.infer<typeof Grant>;

/** Who is asking, with every grant of every role already resolved. */
export interface Subject {
  user: string;
  grants: readonly Grant[];
}

/** What is asked about: a camera (its site is looked up when not given), a site, or nothing (global). */
export interface Target {
  site?: string | null;
  camera?: string | null;
}

export interface CameraDirectory {
  /** The site a camera belongs to, or null when unknown. */
  siteOf(cameraId: string): string | null | undefined;
}

export interface SqlScope {
  /** A boolean SQL expression over the table's site/camera columns. */
  sql: string;
  params: string[];
}

export class Rights {
  private directory: CameraDirectory = { siteOf: () => null };

  /** `groups()` returns camera-group name → camera ids (from central/users). */
  constructor(private readonly groups: () => ReadonlyMap<string, ReadonlySet<string>>) {}

  /** The control plane (issue 4) registers the mirrored device tree here. */
  setCameraDirectory(d: CameraDirectory): void {
    this.directory = d;
  }

  siteOf(camera: string): string | null {
    return this.directory.siteOf(camera) ?? null;
  }

  private covers(g: Grant, t: Target): boolean {
    const s = g.scope;
    if (s === "*") return true;
    const i = s.indexOf(":");
    const kind = s.slice(0, i);
    const id = s.slice(i + 1);
    if (kind === "site") {
      if (t.site === id) return true;
      return !!t.camera && (t.site ?? this.siteOf(t.camera)) === id;
    }
    if (!t.camera) return false;
    if (kind === "camera") return t.camera === id;
    return this.groups().get(id)?.has(t.camera) ?? false;
  }

  /** `target` undefined = a global right (e.g. administer users): only a '*' grant gives it. */
  has(sub: Subject, right: Right, target?: Target): boolean {
    for (const g of sub.grants) {
      if (!g.rights.includes(right)) continue;
      if (target === undefined ? g.scope === "*" : this.covers(g, target)) return true;
    }
    return false;
  }

  /** Any right at all whose grant covers the target itself (a camera grant does not cover its site). */
  hasAny(sub: Subject, target: Target): boolean {
    return sub.grants.some((g) => this.covers(g, target));
  }

  /** Highest retrieval priority the user may ask for at this camera, or null without `retrieve`. */
  maxPriority(sub: Subject, target: Target): RetrievalPriority | null {
    let best: RetrievalPriority | null = null;
    for (const g of sub.grants) {
      if (!g.rights.includes("retrieve") || !this.covers(g, target)) continue;
      const p = g.maxPriority ?? "request";
      if (best === null || priorityRank(p) > priorityRank(best)) best = p;
    }
    return best;
  }

  /** Sites where the user holds `right` (site-wide grants); null = everywhere ('*'). */
  sitesWith(sub: Subject, right: Right): string[] | null {
    const out = new Set<string>();
    for (const g of sub.grants) {
      if (!g.rights.includes(right)) continue;
      if (g.scope === "*") return null;
      if (g.scope.startsWith("site:")) out.add(g.scope.slice(5));
    }
    return [...out];
  }

  /** A user sees a camera when any right covers it. */
  canSeeCamera(sub: Subject, camera: string, site?: string | null): boolean {
    return sub.grants.some((g) => this.covers(g, { camera, site: site ?? undefined }));
  }

  /** A user sees a site when any right covers the site or one of its cameras. */
  canSeeSite(sub: Subject, site: string): boolean {
    for (const g of sub.grants) {
      if (this.covers(g, { site })) return true;
      if (g.scope.startsWith("camera:") && this.siteOf(g.scope.slice(7)) === site) return true;
      if (g.scope.startsWith("group:")) for (const c of this.groups().get(g.scope.slice(6)) ?? []) if (this.siteOf(c) === site) return true;
    }
    return false;
  }

  visibleSites<T extends { id: string }>(sub: Subject, sites: readonly T[]): T[] {
    return sites.filter((s) => this.canSeeSite(sub, s.id));
  }

  visibleCameras<T extends { id: string; siteId?: string | null }>(sub: Subject, cameras: readonly T[]): T[] {
    return cameras.filter((c) => this.canSeeCamera(sub, c.id, c.siteId));
  }

  /**
   * SQL filter for tables with site and camera columns: rows the user may see (any right, or
   * only `right`). Rows without a site or camera (central's own) need a '*' grant.
   */
  sqlScope(sub: Subject, right?: Right, cols = { site: "site_id", camera: "camera_id" }): SqlScope {
    const sites = new Set<string>();
    const cameras = new Set<string>();
    for (const g of sub.grants) {
      if (right && !g.rights.includes(right)) continue;
      if (g.scope === "*") return { sql: "TRUE", params: [] };
      const i = g.scope.indexOf(":");
      const kind = g.scope.slice(0, i);
      const id = g.scope.slice(i + 1);
      if (kind === "site") sites.add(id);
      else if (kind === "camera") cameras.add(id);
      else for (const c of this.groups().get(id) ?? []) cameras.add(c);
    }
    const parts: string[] = [];
    const params: string[] = [];
    const list = (col: string, vals: Set<string>) => {
      if (!vals.size) return;
      const ph = [...vals].map((v) => (params.push(v), `$P${params.length}`));
      parts.push(`${col} IN (${ph.join(", ")})`);
    };
    list(cols.site, sites);
    list(cols.camera, cameras);
    return { sql: parts.length ? `(${parts.join(" OR ")})` : "FALSE", params };
  }
}

/** Renumber `$P1…` placeholders of a scope after `offset` earlier parameters. */
export function bindScope(scope: SqlScope, offset: number): string {
  return scope.sql.replace(/\$P(\d+)/g, (_, n) => `$${Number(n) + offset}`);
}

export type TargetOf = (c: Context) => Target | Promise<Target>;

/**
 * Middleware: 401 without a session (needs `auth` first), 404 when the target is something the
 * user may not even see (so ids do not leak), 403 when they see it but lack the right.
 * `target` omitted = a global right.
 */
export function requireRight<E extends { Variables: { session: Subject } }>(rights: Rights, right: Right, target?: TargetOf): MiddlewareHandler<E> {
  return async (c, next) => {
    const sub = c.var.session;
    if (!target) {
      if (!rights.has(sub, right)) throw forbidden(`This needs the '${right}' right for everything ('*').`);
      return next();
    }
    const t = await target(c);
    if (!rights.has(sub, right, t)) {
      const visible = t.camera ? rights.canSeeCamera(sub, t.camera, t.site) : t.site ? rights.canSeeSite(sub, t.site) : true;
      if (!visible) throw notFound(t.camera ? `No camera with id ${t.camera}.` : `No site with id ${t.site}.`);
      throw forbidden(`You do not have the '${right}' right for ${t.camera ? `camera ${t.camera}` : `site ${t.site}`}.`);
    }
    await next();
  };
}
