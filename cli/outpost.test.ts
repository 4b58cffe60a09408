/** The `outpost` command as users run it (a child process): --help everywhere, site revoke by id or name, token URLs. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createToken, markTokenUsed } from "../central/journal.ts";
import { dataPaths } from "../central/files.ts";
import { createCa } from "../federation/pki.ts";

const OUTPOST = join(import.meta.dir, "outpost.ts");
const dir = mkdtempSync(join(tmpdir(), "outpost-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function outpost(...args: string[]) {
  const p = Bun.spawnSync(["bun", OUTPOST, ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

// Every sub-command: `--help` prints usage (exit 0) naming all of its flags.
const HELP: [string[], string[]][] = [
  [["central"], ["--config"]],
  [["central", "token", "create"], ["--site", "--config", "--ttl-hours"]],
  [["central", "site", "revoke"], ["--config", "--reason"]],
  [["central", "audit", "verify"], ["--config"]],
  [["edge"], ["--config", "--mqtt-url"]],
  [["edge", "enroll"], ["--central", "--token", "--data"]],
  [["camsim"], ["--cameras", "--port", "--onvif-port", "--control-port", "--discovery-port", "--user", "--password", "--main", "--sub", "--main-kbps", "--sub-kbps", "--pattern", "--audio", "--audio-codec", "--codec", "--bframes", "--rtp-timestamp-offset", "--motion-every", "--json"]],
  [["check"], ["--data", "--rebuild", "--json"]],
  [["demo"], ["--data", "--cameras", "--edges", "--port"]],
  [["verify"], ["--ca", "--json"]],
  [["firmware", "build"], ["--out", "--version", "--min-from", "--entry"]],
  [["firmware", "keygen"], ["--out"]],
  [["firmware", "root"], ["--root-key", "--targets-key", "--expires-days", "--out", "--previous", "--old-root-key"]],
  [["firmware", "sign"], ["--bundle", "--key", "--meta-version", "--expires-days", "--out"]],
  [["firmware", "verify"], ["--root", "--targets", "--bundle", "--current"]],
  [["firmware", "install"], ["--data", "--root", "--bundle", "--targets"]],
  [["firmware", "status"], ["--data"]],
  [["firmware", "boot"], ["--data", "--trial-timeout"]],
  [["firmware", "run"], ["--config", "--health-timeout", "--poll"]],
];

describe("--help", () => {
  test.each(HELP)("outpost %p --help", (args, flags) => {
    const r = outpost(...args, "--help");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    for (const f of flags) expect(r.out).toContain(f);
  });
});

describe("central site revoke and token create", () => {
  const dataDir = join(dir, "central");
  const cfgFile = join(dir, "central.yaml");
  const paths = dataPaths(dataDir);
  const revoked = () => (existsSync(paths.revocations) ? readFileSync(paths.revocations, "utf8").trim().split("\n").map((l) => JSON.parse(l).siteId) : []);
  const sites: Record<string, string> = {};

  test("setup: three enrolled sites (two named alike) and one never enrolled", async () => {
    writeFileSync(cfgFile, `dataDir: ${dataDir}\nenroll:\n  port: 0\n`);
    mkdirSync(join(dataDir, "ca"), { recursive: true });
    const ca = await createCa({ name: "test", now: Date.now(), lifetimeDays: 1 });
    writeFileSync(paths.caCert, ca.certPem);
    for (const [key, name, enrolled] of [["bus1", "Bus 1", true], ["boatA", "Boat", true], ["boatB", "Boat", true], ["cab", "Cabinet", false]] as const) {
      const t = await createToken(paths.tokens, { site: name, ttlHours: 1, now: Date.now(), caFingerprint: "x" });
      if (enrolled) await markTokenUsed(paths.tokens, t.tokenId, new Date().toISOString(), "01");
      sites[key] = t.siteId;
    }
  });

  test("by the name the UI shows", () => {
    const r = outpost("central", "site", "revoke", "Bus 1", "--config", cfgFile);
    expect(r.code).toBe(0);
    expect(r.out).toContain(sites.bus1!);
    expect(revoked()).toEqual([sites.bus1]);
  });

  test("by id", () => {
    expect(outpost("central", "site", "revoke", sites.boatA!, "--config", cfgFile).code).toBe(0);
    expect(revoked()).toEqual([sites.bus1, sites.boatA]);
  });

  test.each([
    ["Boat", /"Boat" names 2 sites: .*give the site id/],
    ["no-such-site", /no enrolled site has the id or name "no-such-site"; enrolled sites: /],
    ["Cabinet", /no enrolled site has the id or name "Cabinet"/],
  ])("%p is refused, revoking nothing", (arg, message) => {
    const r = outpost("central", "site", "revoke", arg, "--config", cfgFile);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(message);
    expect(revoked()).toEqual([sites.bus1, sites.boatA]);
  });

  test("token create with enroll.port 0 prints no unusable URL", () => {
    const r = outpost("central", "token", "create", "--site", "Van", "--config", cfgFile);
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/https:\/\/\S+:0\b/);
    expect(r.out).toContain("chosen when central starts");
  });
});
