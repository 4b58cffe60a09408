/**
 * Rights rules: the one statement every user-API route makes about who may call it. A rule is
 * data (it is published in the OpenAPI document as `x-outpost-rights`, and the generated rights
 * matrix test reads it from there) and it is enforced by the route registry (central/openapi.ts)
 * before the handler runs, so the document and the enforcement cannot disagree.
 *
 * Where a target comes from: ":name" is a path parameter, "body.field" a JSON body field,
 * "query.name" a query parameter. Camera ids are central's `<site>.<camera>`.
 */
import type { Context } from "hono";
import { forbidden, notFound } from "../../lib/http/problem.ts";
import type { Right, Rights, Subject, Target } from "./index.ts";

export type TargetAt = `:${string}` | `body.${string}` | `query.${string}`;

export type RightsRule =
  /** Anyone, no session. The string says why that is safe (it is published). */
  | { public: string }
  /** An integration API key (x-api-key); a site-scoped key acts only on its own site (the handler checks what the body names). */
  | { apiKey: "site-scoped" }
  /** Any signed-in user; the answer is only about that user (me, logout, saved views). */
  | { user: "self" }
  /** Any signed-in user; every list is filtered to the sites and cameras they may see. */
  | { user: "filtered" }
  /** The right for everything (a '*' grant). */
  | { right: Right }
  /** The right on at least one site; the answer is filtered to those sites. */
  | { right: Right; some: true }
  /**
   * The right on the site itself (a '*' or 'site:ID' grant). "any" = any right there.
   * viaCamera: a right on one of the site's cameras also lets the user see it; the answer is then filtered to those cameras.
   */
  | { right: Right | "any"; site: TargetAt; viaCamera?: true }
  /** The right on the camera (any grant covering it). "any" = any right on it. */
  | { right: Right | "any"; camera: TargetAt }
  /** The right on a stored thing (alarm, retrieval, lock) whose site/camera is looked up; unknown or invisible ids answer 404. */
  | { right: Right | "any"; resource: string; target: (c: Context) => Promise<Target | null> };

/** Needs a logged-in session (everything but public and API-key routes). */
export const needsSession = (r: RightsRule): boolean => !("public" in r) && !("apiKey" in r);

/** The rule as published in the document (functions left out). */
export function ruleDoc(r: RightsRule): Record<string, unknown> {
  const { target: _t, ...rest } = r as { target?: unknown };
  return rest;
}

/** What the rule's target location names in this request (undefined when it is not there). */
export function targetValue(at: TargetAt, c: Context, body: unknown): string | undefined {
  if (at.startsWith(":")) return c.req.param(at.slice(1));
  if (at.startsWith("query.")) return c.req.query(at.slice(6));
  const v = body && typeof body === "object" ? (body as Record<string, unknown>)[at.slice(5)] : undefined;
  return typeof v === "string" ? v : undefined;
}

/** Does the rule need the request body to find its target? Then it is checked after the body is parsed. */
export const targetInBody = (r: RightsRule): boolean => ("site" in r && r.site.startsWith("body.")) || ("camera" in r && r.camera.startsWith("body."));

/**
 * Enforce `rule` for `sub` (the session). 404 when the target is something the user may not even
 * see (ids do not leak), 403 when they see it but lack the right. Public, API-key and user rules
 * pass here (the session, if needed, was checked before).
 */
export async function enforceRule(rights: Rights, rule: RightsRule, sub: Subject, c: Context, body: unknown): Promise<void> {
  if (!("right" in rule)) return;
  const right = rule.right;
  if ("some" in rule) {
    const sites = rights.sitesWith(sub, right as Right);
    if (sites && !sites.length) throw forbidden(`This needs the '${right}' right on at least one site.`);
    return;
  }
  if ("site" in rule) {
    const site = targetValue(rule.site, c, body) ?? "";
    const ok = right === "any" ? rights.hasAny(sub, { site }) : rights.has(sub, right, { site });
    if (ok) return;
    if (rule.viaCamera && right === "any" && rights.canSeeSite(sub, site)) return;
    if (!rights.canSeeSite(sub, site)) throw notFound(`No site with id ${site}.`);
    throw forbidden(right === "any" ? `You see only some cameras of site ${site}, not the site itself.` : `You do not have the '${right}' right for site ${site}.`);
  }
  if ("camera" in rule) {
    const camera = targetValue(rule.camera, c, body) ?? "";
    return check(rights, sub, right, { camera, site: rights.siteOf(camera) });
  }
  if ("resource" in rule) {
    const t = await rule.target(c);
    if (!t) throw notFound(`No ${rule.resource} ${c.req.param("id") ?? ""}.`.replace(/ \.$/, "."));
    if (!visible(rights, sub, t)) throw notFound(`No ${rule.resource} ${c.req.param("id") ?? ""}.`);
    if (right === "any") return;
    if (!rights.has(sub, right, t)) throw forbidden(`You do not have the '${right}' right for ${t.camera ? `camera ${t.camera}` : `site ${t.site}`}.`);
    return;
  }
  if (!rights.has(sub, right as Right)) throw forbidden(`This needs the '${right}' right for everything ('*').`);
}

function visible(rights: Rights, sub: Subject, t: Target): boolean {
  if (t.camera) return rights.canSeeCamera(sub, t.camera, t.site);
  if (t.site) return rights.canSeeSite(sub, t.site);
  // Central's own records (no site, no camera): only a '*' grant sees them.
  return sub.grants.some((g) => g.scope === "*");
}

function check(rights: Rights, sub: Subject, right: Right | "any", t: Target): void {
  if (right === "any" ? rights.canSeeCamera(sub, t.camera!, t.site) : rights.has(sub, right, t)) return;
  if (!rights.canSeeCamera(sub, t.camera!, t.site)) throw notFound(`No camera with id ${t.camera}.`);
  throw forbidden(`You do not have the '${right}' right for camera ${t.camera}.`);
}
