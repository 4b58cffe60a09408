/** HTTP route: the system log (admin-sites; a site admin sees only their sites' edge records, '*' sees central's too). */
import { z } from "zod";
import { forbidden } from "../../lib/http/problem.ts";
import type { ApiRouter } from "../openapi.ts";
import type { OpsContext } from "../events/operations.ts";
import { SyslogEntry, SyslogQuery } from "./index.ts";

export function mountSyslogRoutes(api: ApiRouter, x: OpsContext): void {
  api.route({ method: "get", path: "/api/v1/syslog", summary: "Warnings and errors from central and edges, newest first (page with `before` = previous `next`)", tag: "syslog", rights: { right: "admin-sites", some: true }, query: SyslogQuery, response: z.object({ entries: z.array(SyslogEntry), next: z.number().nullable() }) }, async (c, { query }) => {
    const sites = x.rights.sitesWith(c.var.session, "admin-sites");
    if (sites && !sites.length) throw forbidden("The system log needs the 'admin-sites' right.");
    return c.json(await x.syslog.query(query, sites));
  });
}
