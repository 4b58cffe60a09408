/** HTTP route: the system log (admin-sites; a site admin sees only their sites' edge records, '*' sees central's too). */
import { z } from "zod";
import type { Hono, MiddlewareHandler } from "hono";
import { forbidden } from "../../lib/http/problem.ts";
import type { ApiEnv } from "../api.ts";
import { route } from "../openapi.ts";
import type { OpsContext } from "../events/operations.ts";
import { SyslogEntry, SyslogQuery } from "./index.ts";

export function mountSyslogRoutes(app: Hono<ApiEnv>, auth: MiddlewareHandler<ApiEnv>, x: OpsContext): void {
  route(app, x.openapi, { method: "get", path: "/api/v1/syslog", summary: "Warnings and errors from central and edges, newest first (page with `before` = previous `next`)", tag: "syslog", right: "admin-sites", query: SyslogQuery, response: z.object({ entries: z.array(SyslogEntry), next: z.number().nullable() }) }, [auth], async (c, { query }) => {
    const sites = x.rights.sitesWith(c.var.session, "admin-sites");
    if (sites && !sites.length) throw forbidden("The system log needs the 'admin-sites' right.");
    return c.json(await x.syslog.query(query, sites));
  });
}
