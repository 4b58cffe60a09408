/**
 * Refused requests (401, 403) into the audit log, not only failed logins: who (the session's
 * user, else "anonymous"), from where, what. A client repeating the same refused request is
 * recorded once per `everyMs` with the count of repeats since, so a scanner cannot flood the
 * hash-chained log.
 */
import type { Clock } from "../../lib/clock.ts";
import type { AuditInput } from "./index.ts";

export interface DeniedRequest {
  user: string | null;
  client: string;
  method: string;
  path: string;
  status: number;
  reason: string;
}

export class DeniedAccessAudit {
  private last = new Map<string, { atMs: number; repeats: number }>();
  constructor(
    private readonly record: (a: AuditInput) => void,
    private readonly clock: Clock,
    private readonly everyMs = 10_000,
  ) {}

  note(r: DeniedRequest): void {
    const now = this.clock.now();
    const key = `${r.client}\u0000${r.user ?? ""}\u0000${r.method}\u0000${r.path}\u0000${r.status}`;
    const prev = this.last.get(key);
    if (prev && now - prev.atMs < this.everyMs) {
      prev.repeats++;
      return;
    }
    this.last.set(key, { atMs: now, repeats: 0 });
    if (this.last.size > 10_000) for (const [k, v] of this.last) if (now - v.atMs >= this.everyMs) this.last.delete(k);
    this.record({
      user: r.user ?? "anonymous",
      action: "access-denied",
      subject: `${r.method} ${r.path}`,
      outcome: "denied",
      detail: { status: r.status, client: r.client, reason: r.reason, ...(prev?.repeats ? { repeatsBefore: prev.repeats } : {}) },
    });
  }
}
