/**
 * Per-user RTSP stream credentials: random secrets a user makes for a player or another VMS
 * and gives as the RTSP password instead of their account password, so a player's config file
 * or a plain-RTSP network never holds the password that opens the web client and the API. A
 * credential acts with its user's current rights (view-live per camera), works only for RTSP
 * out, can be revoked one by one, and is stored as a SHA-256 hash (the secret is 192 random
 * bits, so no slow hash is needed; it is shown once, at creation).
 * Routes: /api/v1/me/stream-credentials (list, create, revoke your own).
 */
import { z } from "zod";
import { notFound } from "../../../lib/http/problem.ts";
import { iso, type Clock } from "../../../lib/clock.ts";
import type { ApiRouter } from "../../openapi.ts";
import type { Database } from "../../db/index.ts";
import type { Subject } from "../../rights/index.ts";
import { sha256 } from "../../users/index.ts";

/** Every secret starts with this, so RTSP out knows which check a password needs without trying both. */
export const STREAM_SECRET_PREFIX = "rtsp_";
const MAX_PER_USER = 50;

export const StreamCredential = z.object({ id: z.string(), label: z.string(), createdAt: z.string(), lastUsedAt: z.string().nullable() });
export type StreamCredential = z.infer<typeof StreamCredential>;
const CreateBody = z.object({ label: z.string().trim().min(1, "give the credential a label (which player or system uses it)").max(100) }).strict();

interface Row extends StreamCredential {
  user: string;
  hash: string;
}

export class StreamCredentials {
  private byHash = new Map<string, Row>();
  /** Loaded in the background: the routes are mounted before central's start can be awaited. */
  private readonly ready: Promise<void>;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    /** Users.subjectOf: the user's current grants; null when deleted or disabled. */
    private readonly subjectOf: (user: string) => Subject | null,
  ) {
    this.ready = this.load();
    this.ready.catch(() => undefined); // surfaced by whichever call awaits it
  }

  /** Resolves when the stored credentials are loaded (rejects if the table cannot be read). */
  init(): Promise<void> {
    return this.ready;
  }

  private async load(): Promise<void> {
    const rows = await this.db.query<{ id: string; user_name: string; label: string; secret_hash: string; created_at: string }>(`SELECT id, user_name, label, secret_hash, created_at FROM rtsp_credentials`);
    for (const r of rows) this.byHash.set(r.secret_hash, { id: r.id, user: r.user_name, label: r.label, hash: r.secret_hash, createdAt: r.created_at, lastUsedAt: null });
  }

  async list(user: string): Promise<StreamCredential[]> {
    await this.ready;
    return [...this.byHash.values()].filter((r) => r.user === user).sort((a, b) => a.createdAt.localeCompare(b.createdAt)).map(view);
  }

  async create(user: string, label: string): Promise<StreamCredential & { secret: string }> {
    if ((await this.list(user)).length >= MAX_PER_USER) throw Object.assign(new Error(`You have ${MAX_PER_USER} stream credentials already; revoke one first.`), { status: 409 });
    const secret = STREAM_SECRET_PREFIX + Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url");
    const row: Row = { id: crypto.randomUUID(), user, label, hash: sha256(secret), createdAt: iso(this.clock.now()), lastUsedAt: null };
    await this.db.run(`INSERT INTO rtsp_credentials (id, user_name, label, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)`, [row.id, user, label, row.hash, row.createdAt]);
    this.byHash.set(row.hash, row);
    return { ...view(row), secret };
  }

  async revoke(user: string, id: string): Promise<boolean> {
    await this.ready;
    const row = [...this.byHash.values()].find((r) => r.user === user && r.id === id);
    if (!row) return false;
    await this.db.run(`DELETE FROM rtsp_credentials WHERE id = $1`, [id]);
    this.byHash.delete(row.hash);
    return true;
  }

  /** The user's subject if `secret` is one of their live credentials, else null. */
  async verify(user: string, secret: string): Promise<Subject | null> {
    if (!secret.startsWith(STREAM_SECRET_PREFIX) || secret.length > 200) return null;
    await this.ready;
    const row = this.byHash.get(sha256(secret));
    if (!row || row.user !== user) return null;
    const sub = this.subjectOf(user);
    if (sub) row.lastUsedAt = iso(this.clock.now());
    return sub;
  }

  /** `rtspUrl`: how players reach RTSP out, shown with the credentials (e.g. rtsps://host:port/<site>.<camera>/<main|sub>). */
  apiRoutes(api: ApiRouter, rtspUrl: () => string | null): void {
    const tag = "rtsp";
    const rights = { user: "self" } as const;
    api.route(
      { method: "get", path: "/api/v1/me/stream-credentials", summary: "Your RTSP stream credentials (secrets are shown only at creation) and the RTSP out URL", tag, rights, response: z.object({ credentials: z.array(StreamCredential), rtspUrl: z.string().nullable() }) },
      async (c) => c.json({ credentials: await this.list(c.var.session.user), rtspUrl: rtspUrl() }),
    );
    api.route(
      {
        method: "post",
        path: "/api/v1/me/stream-credentials",
        summary: "Make an RTSP stream credential: use your user name and the returned secret as the RTSP password (shown once)",
        tag,
        rights,
        body: CreateBody,
        status: 201,
        response: StreamCredential.extend({ secret: z.string(), user: z.string() }),
      },
      async (c, { body }) => {
        try {
          return c.json({ ...(await this.create(c.var.session.user, body.label)), user: c.var.session.user }, 201);
        } catch (e) {
          if ((e as { status?: number }).status === 409) return c.json({ type: "about:blank", title: "Conflict", status: 409, detail: (e as Error).message }, 409, { "content-type": "application/problem+json" });
          throw e;
        }
      },
    );
    api.route({ method: "delete", path: "/api/v1/me/stream-credentials/:id", summary: "Revoke one of your RTSP stream credentials (new RTSP sessions with it are refused)", tag, rights, status: 204 }, async (c) => {
      if (!(await this.revoke(c.var.session.user, c.req.param("id")!))) throw notFound(`You have no stream credential with id ${c.req.param("id")}.`);
      return c.body(null, 204);
    });
  }
}

function view(r: Row): StreamCredential {
  return { id: r.id, label: r.label, createdAt: r.createdAt, lastUsedAt: r.lastUsedAt };
}
