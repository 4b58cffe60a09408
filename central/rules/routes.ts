/** HTTP routes: rules and time profiles (admin-policies), and the dry run that says which rules an event would fire. */
import { z } from "zod";
import { badRequest, notFound } from "../../lib/http/problem.ts";
import type { ApiRouter } from "../openapi.ts";
import { guard } from "../rights/errors.ts";
import type { OpsContext } from "../events/operations.ts";
import { EventError, EventInput } from "../events/index.ts";
import { Rule, TimeProfile } from "./schema.ts";

const StoredRule = Rule.extend({ source: z.enum(["api", "config"]) });
const DryRunBody = EventInput.extend({ source: EventInput.shape.source.default("external") });
const DryRun = z.object({
  event: z.record(z.string(), z.unknown()),
  fires: z.array(z.object({ id: z.string(), name: z.string(), actions: z.array(z.string()) })),
  notFired: z.array(z.object({ id: z.string(), name: z.string(), reason: z.string() })),
});
const Ok = z.object({ ok: z.literal(true) });

export function mountRuleRoutes(api: ApiRouter, x: OpsContext): void {
  const tag = "rules";
  const rights = { right: "admin-policies" } as const;
  const cfg = (user: string, subject: string, detail: Record<string, unknown>) => x.audit.record({ user, action: "config", subject, detail });

  api.route({ method: "get", path: "/api/v1/rules", summary: "Rules", tag, rights, response: z.object({ rules: z.array(StoredRule) }) }, (c) => c.json({ rules: x.rules.list() }));
  api.route({ method: "get", path: "/api/v1/rules/:id", summary: "One rule", tag, rights, response: StoredRule }, (c) => {
    const r = x.rules.get(c.req.param("id")!);
    if (!r) throw notFound(`No rule with id ${c.req.param("id")!}.`);
    return c.json(r);
  });
  api.route({ method: "put", path: "/api/v1/rules/:id", summary: "Create or replace a rule (validated, including its time profile)", tag, rights, body: Rule.omit({ id: true }), response: StoredRule }, async (c, { body }) => {
    const r = await guard(x.rules.put({ ...body, id: c.req.param("id")! }));
    cfg(c.var.session.user, "rule.put", { rule: r });
    return c.json(r);
  });
  api.route({ method: "delete", path: "/api/v1/rules/:id", summary: "Delete a rule", tag, rights, response: Ok }, async (c) => {
    await guard(x.rules.delete(c.req.param("id")!));
    cfg(c.var.session.user, "rule.delete", { id: c.req.param("id")! });
    return c.json({ ok: true as const });
  });
  api.route({ method: "post", path: "/api/v1/rules/dry-run", summary: "Which rules this event would fire (at its original time), and why the others would not; nothing is done", tag, rights, body: DryRunBody, response: DryRun }, (c, { body }) => {
    let e;
    try {
      e = x.events.build(body);
    } catch (err) {
      if (err instanceof EventError) throw badRequest(err.message);
      throw err;
    }
    const v = x.rules.dryRun(e);
    const { timeMs: _t, arrivedMs: _a, ...event } = e;
    return c.json({
      event,
      fires: v.filter((r) => r.fires).map((r) => ({ id: r.rule.id, name: r.rule.name, actions: r.rule.actions.map((a) => a.kind) })),
      notFired: v.filter((r) => !r.fires).map((r) => ({ id: r.rule.id, name: r.rule.name, reason: r.reason })),
    });
  });

  api.route({ method: "get", path: "/api/v1/time-profiles", summary: "Time profiles", tag, rights, response: z.object({ timeProfiles: z.array(TimeProfile) }) }, (c) => c.json({ timeProfiles: x.rules.listProfiles() }));
  api.route({ method: "put", path: "/api/v1/time-profiles/:name", summary: "Create or replace a time profile", tag, rights, body: TimeProfile.omit({ name: true }), response: TimeProfile }, async (c, { body }) => {
    const p = await guard(x.rules.putProfile({ ...body, name: c.req.param("name")! }));
    cfg(c.var.session.user, "time-profile.put", { profile: p });
    return c.json(p);
  });
  api.route({ method: "delete", path: "/api/v1/time-profiles/:name", summary: "Delete a time profile no rule uses", tag, rights, response: Ok }, async (c) => {
    await guard(x.rules.deleteProfile(c.req.param("name")!));
    cfg(c.var.session.user, "time-profile.delete", { name: c.req.param("name")! });
    return c.json({ ok: true as const });
  });
}
