/**
 * API keys for integrations that post events (POST /api/v1/events, like Milestone's generic
 * events). Created and revoked by an admin; the key is shown once and stored only as SHA-256.
 * A key may be limited to one site: its events must name that site (or get it).
 */
import { z } from "zod";
import type { Clock } from "../../lib/clock.ts";
import type { Database } from "../db/index.ts";
import { sha256 } from "../users/index.ts";

export const ApiKeyCreate = z.object({
  name: z.string().trim().min(1).max(100),
  siteId: z.string().min(1).max(200).nullable().optional().describe("limit the key to events of this site"),
});

export const ApiKeyView = z.object({
  id: z.string(),
  name: z.string(),
  siteId: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
});
export type ApiKeyView = z.infer<typeof ApiKeyView>;

export class ApiKeys {
  private byHash = new Map<string, ApiKeyView>();

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async init(): Promise<void> {
    for (const r of await this.db.query<Record<string, string | null>>(`SELECT id, key_hash, name, site_id, created_by, created_at FROM api_keys`)) {
      this.byHash.set(r.key_hash!, { id: r.id!, name: r.name!, siteId: r.site_id ?? null, createdBy: r.created_by!, createdAt: r.created_at! });
    }
  }

  async create(name: string, siteId: string | null, by: string): Promise<ApiKeyView & { key: string }> {
    const id = crypto.randomUUID().slice(0, 8);
    const key = `opk_${id}_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url")}`;
    const v: ApiKeyView = { id, name, siteId, createdBy: by, createdAt: new Date(this.clock.now()).toISOString() };
    await this.db.run(`INSERT INTO api_keys (id, key_hash, name, site_id, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)`, [id, sha256(key), name, siteId, by, v.createdAt]);
    this.byHash.set(sha256(key), v);
    return { ...v, key };
  }

  list(): ApiKeyView[] {
    return [...this.byHash.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async revoke(id: string): Promise<boolean> {
    for (const [h, v] of this.byHash) {
      if (v.id !== id) continue;
      await this.db.run(`DELETE FROM api_keys WHERE id = $1`, [id]);
      this.byHash.delete(h);
      return true;
    }
    return false;
  }

  check(key: string | undefined): ApiKeyView | null {
    if (!key || key.length > 200) return null;
    return this.byHash.get(sha256(key)) ?? null;
  }
}
