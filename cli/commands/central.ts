/**
 * `outpost central`: run the central site, or manage trust from another shell. The token and
 * revoke sub-commands never open central.duckdb (a running central owns it); they append to
 * the data dir's journals, which central reads (see docs/design/trust.md).
 */
import { promises as fs } from "node:fs";
import { CliError, parseOptions, requireOption, untilSignal, type Command } from "../../lib/cli/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { systemClock } from "../../lib/clock.ts";
import { CentralConfig } from "../../central/config.ts";
import { dataPaths } from "../../central/files.ts";
import { appendRevocation, createToken, resolveSite } from "../../central/journal.ts";
import { certFingerprint } from "../../federation/pki.ts";
import { DataDirLockedError, lockDataDir, type DataDirLock } from "../../lib/lock/index.ts";

/** Exit code when the data directory is another process's (EX_TEMPFAIL, as cli/outpost.ts gives a second central). */
const DATA_DIR_IN_USE_EXIT = 75;

const usage = `usage:
  outpost central --config FILE                       run central (user API, enrollment, federation mTLS, MQTT)
  outpost central token create --site NAME --config FILE [--ttl-hours N]
                                                      create a single-use enrollment token (default 24 h)
  outpost central site revoke ID|NAME --config FILE [--reason TEXT]
                                                      revoke a site (its id, or a name only one site has);
                                                      a running central cuts it off within seconds
  outpost central audit verify --config FILE          check the audit log's hash chain; exit 1 if tampered. With
                                                      database.url it reads the server (central may run); with
                                                      the embedded database it is refused while central runs
                                                      on the data dir (then use GET /api/v1/audit/verify)

Config keys: docs/ref/central-config.md (environment overrides: OUTPOST_<KEY>__<SUBKEY>).`;

const command: Command = {
  summary: "run the central site; create enrollment tokens; revoke sites",
  usage,
  async run(argv) {
    const { values, positionals } = parseOptions(
      argv,
      { config: { type: "string" }, site: { type: "string" }, "ttl-hours": { type: "string" }, reason: { type: "string" } },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const file = requireOption(values, "config", usage);
    const cfg = await loadConfig(CentralConfig, { file });
    const [a, b, c] = positionals;
    if (!a) return runCentral(cfg);
    if (a === "token" && b === "create") return tokenCreate(cfg, requireOption(values, "site", usage), values["ttl-hours"]);
    if (a === "site" && b === "revoke") {
      if (!c) throw new CliError(`missing site id or name\n\n${usage}`);
      return siteRevoke(cfg, c, values.reason ?? "revoked from the command line");
    }
    if (a === "audit" && b === "verify") return auditVerify(cfg);
    throw new CliError(`unknown sub-command: ${positionals.join(" ")}\n\n${usage}`);
  },
};
export default command;

async function runCentral(cfg: CentralConfig): Promise<number> {
  const { startCentralSite } = await import("../../central/main.ts");
  const site = await startCentralSite(cfg);
  const central = site.central;
  console.log(`central API       ${central.apiUrl}`);
  console.log(`enrollment        ${central.enrollUrl}`);
  console.log(`federation (mTLS) ${central.federationUrl}`);
  console.log(`MQTT (mTLS)       ${central.mqttUrl}`);
  if (site.rtsp) console.log(`RTSP out          ${site.rtsp.baseUrl}/<site>.<camera>/<main|sub>`);
  console.log(`CA fingerprint    sha256:${central.caFingerprint}`);
  // Browsers and API clients verify the user API against this file (unless api.tls brings the admin's own PKI).
  if (central.apiCaPem) console.log(`CA certificate    ${central.caFile} (import it into browsers to trust ${central.apiUrl})`);
  // The password itself is never printed: stdout of a service ends up in the journal.
  if (central.initialAdminPassword) console.log(`admin login       user admin; generated password in ${central.adminPasswordFile} (0600; change it after the first login)`);
  await untilSignal();
  await site.close();
  return 0;
}

async function tokenCreate(cfg: CentralConfig, site: string, ttl: string | undefined): Promise<number> {
  const p = dataPaths(cfg.dataDir);
  let caPem: string;
  try {
    caPem = await fs.readFile(p.caCert, "utf8");
  } catch {
    throw new CliError(`no CA in ${cfg.dataDir}: start central once (outpost central --config FILE) to create it`);
  }
  const ttlHours = ttl === undefined ? cfg.enrollment.tokenTtlHours : Number(ttl);
  if (!Number.isFinite(ttlHours) || ttlHours <= 0) throw new CliError(`--ttl-hours must be a positive number, got ${ttl}`);
  let t;
  try {
    t = await createToken(p.tokens, { site, ttlHours, now: systemClock.now(), caFingerprint: await certFingerprint(caPem) });
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  // Port 0 = chosen when central starts: no URL to print, central prints it at start.
  const port = cfg.enroll.port;
  const url = cfg.enroll.publicUrl ?? (port === 0 ? "URL" : `https://${cfg.tls.serverNames[0]}:${port}`);
  console.log(`site     ${t.siteName} (id ${t.siteId})`);
  console.log(`expires  ${t.expiresAt}`);
  console.log(`token    ${t.token}`);
  console.log(`on the edge:\n  outpost edge enroll --central ${url} --token ${t.token} --data DIR`);
  if (url === "URL") console.log(`  URL: enroll.port is 0, so the port is chosen when central starts; use the "enrollment" URL central prints then`);
  return 0;
}

async function siteRevoke(cfg: CentralConfig, idOrName: string, reason: string): Promise<number> {
  const p = dataPaths(cfg.dataDir);
  let site;
  try {
    // Only an enrolled site can be revoked: an unknown or ambiguous argument would revoke nothing.
    site = await resolveSite(p.tokens, idOrName);
    await appendRevocation(p.revocations, site.siteId, new Date(systemClock.now()).toISOString(), reason);
  } catch (e) {
    throw new CliError((e as Error).message, 1);
  }
  console.log(`revocation of ${site.siteId} (${site.siteName}) recorded; a running central applies it within ${cfg.revocationPollMs} ms (otherwise at its next start)`);
  return 0;
}

async function auditVerify(cfg: CentralConfig): Promise<number> {
  const { verifyAudit } = await import("../../central/audit/index.ts");
  const { openServer, openEmbedded } = await import("../../central/db/index.ts");
  const { existsSync } = await import("node:fs");
  const path = await import("node:path");
  let db;
  let lock: DataDirLock | null = null;
  if (cfg.database.url) {
    // A server serves every node and this CLI at once: central may keep running.
    db = await openServer(cfg.database.url, { max: 1 }).catch((e: Error) => {
      throw new CliError(`database.url: cannot use the PostgreSQL server: ${e.message}`);
    });
  } else {
    // The embedded database lives inside one process: a second opener would corrupt it. The
    // data directory's lock (lib/lock), held until the check ends, tells: a running central
    // holds it (refused as a second central is), and a central started meanwhile is refused.
    const dir = path.join(cfg.dataDir, "pg");
    if (!existsSync(path.join(dir, "PG_VERSION"))) throw new CliError(`no database in ${dir}: central has not started with this version yet (start it once; it moves the audit log from central.duckdb)`);
    try {
      lock = lockDataDir(cfg.dataDir, "outpost central audit verify");
    } catch (e) {
      if (e instanceof DataDirLockedError) throw new CliError(`${e.message}; while it runs, ask it: GET /api/v1/audit/verify`, DATA_DIR_IN_USE_EXIT);
      throw e;
    }
    try {
      db = await openEmbedded(dir);
    } catch (e) {
      lock.release();
      throw e;
    }
  }
  try {
    if (!(await db.query<{ t: string | null }>(`SELECT to_regclass($1) AS t`, ["audit_log"]))[0]?.t) throw new CliError(`the database has no audit log yet: start central once with this version (it migrates the database)`);
    const r = await verifyAudit(db, path.join(cfg.dataDir, "audit-head.json"));
    if (r.ok) {
      console.log(`audit log intact: ${r.checked} records, chain verified up to record ${r.lastSeq}`);
      return 0;
    }
    console.log(`audit log TAMPERED: ${r.checked} records checked`);
    for (const x of r.problems) console.log(`  at record ${x.seq}: ${x.problem}`);
    return 1;
  } finally {
    await db.close();
    lock?.release();
  }
}
