/** HTTP routes: query the audit log and verify its chain (admin-users: the audit log names every user). */
import { z } from "zod";
import type { ApiRouter } from "../openapi.ts";
import type { OpsContext } from "../events/operations.ts";
import { AuditQuery, AuditRecord, verifyAudit } from "./index.ts";

const Verify = z.object({ ok: z.boolean(), checked: z.number(), lastSeq: z.number(), problems: z.array(z.object({ seq: z.number(), problem: z.string() })) });

export function mountAuditRoutes(api: ApiRouter, x: OpsContext): void {
  const tag = "audit";
  api.route({ method: "get", path: "/api/v1/audit", summary: "Audit records by user, camera, site, action and time, newest first (page with `before` = previous `next`)", tag, rights: { right: "admin-users" }, query: AuditQuery, response: z.object({ records: z.array(AuditRecord), next: z.number().nullable() }) }, async (c, { query }) =>
    c.json(await x.audit.query(query)),
  );
  api.route({ method: "get", path: "/api/v1/audit/verify", summary: "Walk the hash chain; names the first records where it breaks (edit, deletion, reordering)", tag, rights: { right: "admin-users" }, response: Verify }, async (c) => {
    await x.audit.flush();
    return c.json(await verifyAudit(x.audit.db, x.audit.headFile));
  });
}
