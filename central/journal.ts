/**
 * Cross-process journals in central's data dir. The CLI (`outpost central token create`,
 * `outpost central site revoke`) may run while central owns the DuckDB file, so it appends
 * here and the running central picks the lines up (tokens at use time, revocations within
 * revocationPollMs). Both are append-only JSON lines; a token line holds only the secret's hash.
 */
import { timingSafeEqual } from "node:crypto";
import { appendJsonLine, readJsonLines } from "./files.ts";
import { formatToken, hashSecret, newTokenParts, type ParsedToken } from "../federation/enrollment.ts";
import { isSiteId, newSiteId } from "../federation/identity.ts";

export type TokenLine =
  | { op: "create"; id: string; hash: string; siteId: string; siteName: string; createdAt: string; expiresAt: string }
  | { op: "use"; id: string; at: string; serial: string };

export interface RevocationLine {
  siteId: string;
  at: string;
  reason: string | null;
}

export interface CreatedToken {
  token: string;
  tokenId: string;
  siteId: string;
  siteName: string;
  expiresAt: string;
}

export async function createToken(file: string, opts: { site: string; ttlHours: number; now: number; caFingerprint: string }): Promise<CreatedToken> {
  const name = opts.site.trim();
  if (!name || name.length > 200) throw new Error("site name must be 1–200 characters");
  if (!(opts.ttlHours > 0 && opts.ttlHours <= 24 * 30)) throw new Error("ttlHours must be between 0 and 720");
  const parts = newTokenParts(opts.caFingerprint);
  const siteId = newSiteId(name);
  if (!isSiteId(siteId)) throw new Error(`cannot derive a site id from ${JSON.stringify(name)}`);
  const createdAt = new Date(opts.now).toISOString();
  const expiresAt = new Date(opts.now + opts.ttlHours * 3_600_000).toISOString();
  await appendJsonLine(file, { op: "create", id: parts.id, hash: hashSecret(parts.secret), siteId, siteName: name, createdAt, expiresAt } satisfies TokenLine);
  return { token: formatToken(parts), tokenId: parts.id, siteId, siteName: name, expiresAt };
}

export type TokenCheck =
  | { ok: true; siteId: string; siteName: string }
  | { ok: false; reason: "unknown" | "used" | "expired"; message: string };

/** Check a presented token against the journal (constant-time hash compare). */
export async function checkToken(file: string, t: ParsedToken, now: number): Promise<TokenCheck> {
  const lines = await readJsonLines<TokenLine>(file);
  const created = lines.find((l): l is Extract<TokenLine, { op: "create" }> => l.op === "create" && l.id === t.id);
  const unknown = { ok: false as const, reason: "unknown" as const, message: "This enrollment token is not known to central. Ask the admin for a new token." };
  if (!created) return unknown;
  const a = Buffer.from(created.hash, "hex");
  const b = Buffer.from(hashSecret(t.secret), "hex");
  if (a.length !== b.length || !timingSafeEqual(a, b)) return unknown;
  if (lines.some((l) => l.op === "use" && l.id === t.id)) {
    return { ok: false, reason: "used", message: "This enrollment token was already used; tokens work once. Ask the admin for a new token." };
  }
  if (Date.parse(created.expiresAt) <= now) {
    return { ok: false, reason: "expired", message: `This enrollment token expired at ${created.expiresAt}. Ask the admin for a new token.` };
  }
  return { ok: true, siteId: created.siteId, siteName: created.siteName };
}

export async function markTokenUsed(file: string, id: string, at: string, serial: string): Promise<void> {
  await appendJsonLine(file, { op: "use", id, at, serial } satisfies TokenLine);
}

export async function appendRevocation(file: string, siteId: string, at: string, reason: string | null): Promise<void> {
  if (!isSiteId(siteId)) throw new Error(`not a site id: ${JSON.stringify(siteId)}`);
  await appendJsonLine(file, { siteId, at, reason } satisfies RevocationLine);
}

/** Sites that enrolled with a token of this journal (every site does: central only enrolls by token). */
export async function enrolledSites(file: string): Promise<{ siteId: string; siteName: string }[]> {
  const lines = await readJsonLines<TokenLine>(file);
  const used = new Set(lines.flatMap((l) => (l.op === "use" ? [l.id] : [])));
  const sites = new Map<string, string>();
  for (const l of lines) if (l.op === "create" && used.has(l.id)) sites.set(l.siteId, l.siteName);
  return [...sites].map(([siteId, siteName]) => ({ siteId, siteName }));
}

/** The enrolled site an admin means by `idOrName` (its id, or a name only one site has); throws a message naming the choices. */
export async function resolveSite(file: string, idOrName: string): Promise<{ siteId: string; siteName: string }> {
  const sites = await enrolledSites(file);
  const byId = sites.find((s) => s.siteId === idOrName);
  if (byId) return byId;
  const named = sites.filter((s) => s.siteName === idOrName);
  if (named.length === 1) return named[0]!;
  const list = (xs: typeof sites) => xs.map((s) => `${s.siteId} (${s.siteName})`).join(", ");
  if (named.length > 1) throw new Error(`${JSON.stringify(idOrName)} names ${named.length} sites: ${list(named)}; give the site id`);
  throw new Error(`no enrolled site has the id or name ${JSON.stringify(idOrName)}${sites.length ? `; enrolled sites: ${list(sites)}` : " (no site has enrolled yet)"}`);
}

export async function readRevocations(file: string): Promise<RevocationLine[]> {
  return readJsonLines<RevocationLine>(file);
}
