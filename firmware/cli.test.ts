/** `outpost firmware` CLI: the key/sign/verify/install flow and its error paths. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { testRelease } from "./testkit.ts";
import { PrivateKeyFile } from "./meta.ts";

let dir: string;
const entry = path.join(import.meta.dir, "entry.ts");
const cli = (...args: string[]) => {
  const p = Bun.spawnSync([process.execPath, entry, "firmware", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
};

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-fw-cli-"));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

test("keygen → root → sign → verify → install → status; rotation", async () => {
  expect(cli("keygen", "--out", "root.key").code).toBe(0);
  expect(cli("keygen", "--out", "targets.key").code).toBe(0);
  expect(cli("keygen", "--out", "root.key").err).toContain("cannot write"); // never overwrites a key
  expect((await fs.stat(path.join(dir, "root.key"))).mode & 0o777).toBe(0o600);
  expect(cli("root", "--root-key", "root.key", "--targets-key", "targets.key", "--expires-days", "365", "--out", "root.json").code).toBe(0);
  const tk = PrivateKeyFile.parse(JSON.parse(await fs.readFile(path.join(dir, "targets.key"), "utf8")));
  const r = await testRelease(dir, { version: "1.0.0", metaVersion: 1, keys: [tk] });
  expect(cli("sign", "--bundle", r.bundleFile, "--key", "targets.key", "--meta-version", "1", "--expires-days", "30", "--out", "t.json").code).toBe(0);
  const ok = cli("verify", "--root", "root.json", "--targets", "t.json", "--bundle", r.bundleFile);
  expect(ok.out).toContain("ok: release 1.0.0");
  expect(cli("install", "--data", "data", "--root", "root.json", "--bundle", r.bundleFile, "--targets", "t.json").out).toContain("installed 1.0.0 into slot a");
  expect(JSON.parse(cli("status", "--data", "data").out)).toMatchObject({ current: "a", pending: null, versions: { a: "1.0.0", b: null } });
  expect(cli("keygen", "--out", "root2.key").code).toBe(0);
  const rot = cli("root", "--previous", "root.json", "--old-root-key", "root.key", "--root-key", "root2.key", "--targets-key", "targets.key", "--expires-days", "365", "--out", "root2.json");
  expect(rot.out).toContain("root v2");
});

test("clear errors: wrong key, rollback, missing options, unknown sub-command", async () => {
  expect(cli("keygen", "--out", "evil.key").code).toBe(0);
  const r = await testRelease(dir, { version: "1.0.1", metaVersion: 2, keys: [PrivateKeyFile.parse(JSON.parse(await fs.readFile(path.join(dir, "evil.key"), "utf8")))] });
  expect(cli("sign", "--bundle", r.bundleFile, "--key", "evil.key", "--meta-version", "2", "--expires-days", "30", "--out", "evil.json").code).toBe(0);
  const bad = cli("verify", "--root", "root.json", "--targets", "evil.json");
  expect(bad.code).toBe(1);
  expect(bad.err).toContain("threshold");
  const rb = cli("verify", "--root", "root.json", "--targets", "t.json", "--current", "1.0.0");
  expect(rb.err).toContain("rollback");
  const other = cli("verify", "--root", "root.json", "--targets", "t.json", "--bundle", r.bundleFile);
  expect(other.err).toContain("hash-mismatch"); // same length (same layout), other content
  expect(cli("sign", "--bundle", "x").err).toContain("missing --key");
  expect(cli("sign", "--bundle", r.bundleFile, "--key", "evil.key", "--meta-version", "0", "--expires-days", "1", "--out", "x.json").err).toContain("positive integer");
  expect(cli("frobnicate").err).toContain("unknown firmware command");
  expect(cli("status", "--data", "nowhere").err).toContain("install a release first");
  expect(cli("verify", "--root", "missing.json", "--targets", "t.json").err).toContain("cannot read missing.json");
});
