import { afterAll, beforeAll, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import mqtt from "mqtt";
import { startCentral, type Central } from "../../central/index.ts";
import { tryHttps } from "../../central/testkit.ts";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { FEDERATION_PATHS } from "../../federation/enrollment.ts";
import { siteTopicRoot } from "../../federation/identity.ts";
import { beginRotation, enroll, federationCall, identityStatus, loadIdentity, loadPendingIdentity, mqttClientOptions, renewalDue, resumeRotation, startRenewal, type Identity } from "./index.ts";

let root: string;
let central: Central;
const log = new Logger({ component: "test", sink: new MemorySink() });

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-identity-"));
  central = await startCentral({ dataDir: path.join(root, "central"), api: { port: 0 }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 } }, { log });
}, 60_000); // central's embedded database takes seconds to create on a loaded machine
afterAll(async () => {
  await central?.close();
  await fs.rm(root, { recursive: true, force: true });
});

async function newEdge(name: string): Promise<{ dir: string; id: Identity }> {
  const t = await central.createEnrollmentToken(name);
  const dir = path.join(root, name);
  return { dir, id: await enroll({ centralUrl: central.enrollUrl, token: t.token, dataDir: dir }) };
}
const works = (id: Identity) => tryHttps(central.federationUrl + FEDERATION_PATHS.whoami, central.caPem, { certPem: id.certPem, keyPem: id.keyPem });

test("enroll stores key 0600 and the identity loads back; mqtt options connect", async () => {
  const { dir, id } = await newEdge("e1");
  const st = await fs.stat(path.join(dir, "identity", "gen-1", "key.pem"));
  expect(st.mode & 0o777).toBe(0o600);
  const loaded = (await loadIdentity(dir))!;
  expect(loaded.serial).toBe(id.serial);
  expect(loaded.siteId).toBe(id.siteId);
  expect(identityStatus(loaded, Date.now()).map((s) => s.kind)).toEqual(["site", "ca"]);
  const c = await mqtt.connectAsync(id.mqttUrl, { ...mqttClientOptions(id), protocolVersion: 4, reconnectPeriod: 0 });
  await c.publishAsync(`${siteTopicRoot(id.siteId)}/status`, "up", { qos: 1 });
  await c.endAsync();
  await expect(enroll({ centralUrl: central.enrollUrl, token: (await central.createEnrollmentToken("x")).token, dataDir: dir })).rejects.toThrow(/already holds an identity/);
  await expect(enroll({ centralUrl: "http://127.0.0.1:1", token: (await central.createEnrollmentToken("y")).token, dataDir: path.join(root, "y") })).rejects.toThrow(/https/);
});

test("crash after renewal but before confirm: current identity keeps working; resume finishes", async () => {
  const { dir, id } = await newEdge("e2");
  const pending = await beginRotation(dir);
  // "power cut": process restarts, loads from disk
  const after = (await loadIdentity(dir))!;
  expect(after.serial).toBe(id.serial);
  expect(await works(after)).toBe("ok");
  expect((await loadPendingIdentity(dir))!.serial).toBe(pending.serial);
  const done = (await resumeRotation(dir))!;
  expect(done.serial).toBe(pending.serial);
  expect(await works(done)).toBe("ok");
  expect(await works(id)).toBe("refused");
  expect(await loadPendingIdentity(dir)).toBeNull();
});

test("crash after central confirmed but before the local switch: resume switches to the new identity", async () => {
  const { dir, id } = await newEdge("e3");
  const pending = await beginRotation(dir);
  await federationCall(pending, FEDERATION_PATHS.confirm, { method: "POST", body: {} }); // central side done
  expect(await works((await loadIdentity(dir))!)).toBe("refused"); // old one now superseded
  const fixed = (await resumeRotation(dir))!;
  expect(fixed.serial).toBe(pending.serial);
  expect(await works(fixed)).toBe("ok");
  void id;
});

test("a half-written generation (no pending.json yet) is ignored", async () => {
  const { dir, id } = await newEdge("e4");
  await fs.mkdir(path.join(dir, "identity", "gen-2"));
  await fs.writeFile(path.join(dir, "identity", "gen-2", "key.pem.tmp-1"), "partial");
  expect(await loadPendingIdentity(dir)).toBeNull();
  expect((await resumeRotation(dir))!.serial).toBe(id.serial);
});

test("renewal loop renews at 2/3 of the lifetime (injected clock) and reports the new identity", async () => {
  const { dir, id } = await newEdge("e5");
  const clock = new ManualClock(Date.now());
  expect(renewalDue(id, clock.now())).toBe(false);
  const rotated: Identity[] = [];
  const r = startRenewal(dir, { clock, checkEveryMs: 3_600_000, onRotated: (n) => void rotated.push(n) });
  try {
    await r.checkNow();
    expect(rotated).toHaveLength(0);
    clock.advance(61 * 86_400_000); // 61 of 90 days: past 2/3
    expect(renewalDue(id, clock.now())).toBe(true);
    await r.checkNow();
    expect(rotated).toHaveLength(1);
    expect(rotated[0]!.serial).not.toBe(id.serial);
    expect(await works(rotated[0]!)).toBe("ok");
  } finally {
    r.stop();
  }
});
