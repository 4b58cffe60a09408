import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../lib/config/index.ts";
import { CentralConfig } from "./config.ts";

const dir = mkdtempSync(join(tmpdir(), "central-cfg-"));
const load = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return loadConfig(CentralConfig, { file: join(dir, name), env: {} });
};

describe("central config", () => {
  test("a known key loads", async () => {
    expect((await load("ok.yaml", "api:\n  port: 9090\n")).api.port).toBe(9090);
  });

  test("storage.path: where central's recordings live (absent = dataDir/store); empty is refused", async () => {
    expect((await load("sp.yaml", "storage:\n  path: /mnt/outpost-media\n")).storage.path).toBe("/mnt/outpost-media");
    expect((await load("sp0.yaml", "api:\n  port: 9090\n")).storage.path).toBeUndefined();
    const err = await load("sp1.yaml", 'storage:\n  path: ""\n').catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(String(err.message)).toContain("storage.path");
    expect((await load("si.yaml", "storage:\n  index: database\n")).storage.index).toBe("database");
    expect((await load("si0.yaml", "api:\n  port: 9090\n")).storage.index).toBe("file");
    expect(await load("si1.yaml", "storage:\n  index: duckdb\n").catch((e) => e)).toBeInstanceOf(ConfigError);
  });

  // A typo must not start central on defaults: every object is strict and the error names key and path.
  test.each([
    ["api: {prot: 9090}\n", "api", '"prot"'],
    ["federaton:\n  port: 9443\n", "(root)", '"federaton"'],
    ["live:\n  rtsp:\n    tlsport: 1\n", "live.rtsp", '"tlsport"'],
    ["onvif:\n  discovery:\n    enable: true\n", "onvif.discovery", '"enable"'],
    ["operations:\n  login:\n    maxFailure: 3\n", "operations.login", '"maxFailure"'],
    ["operations:\n  latAfterSeconds: 3\n", "operations", '"latAfterSeconds"'],
    ["enrollment:\n  tokenTtl: 3\n", "enrollment", '"tokenTtl"'],
    ["database:\n  uri: postgres://x@localhost/db\n", "database", '"uri"'],
  ])("unknown key %p is refused", async (text, path, key) => {
    const err = await load("typo.yaml", text).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(new RegExp(`\\n  ${path.replace(/[().]/g, "\\$&")}: .*${key}`));
  });

  test("database.url: a postgres URL is taken, anything else refused by key; absent means embedded", async () => {
    expect((await load("db.yaml", "database:\n  url: postgres://outpost@localhost/outpost?host=/run/postgresql\n")).database.url).toBe("postgres://outpost@localhost/outpost?host=/run/postgresql");
    expect((await load("nodb.yaml", "api: {port: 1}\n")).database.url).toBeUndefined();
    const err = await load("baddb.yaml", "database:\n  url: mysql://root@localhost/x\n").catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/database\.url: .*postgres:\/\//);
  });
});

describe("cluster and the external broker", () => {
  test("defaults: heartbeat 5 s, lease 15 s, node id from the data directory; keys load", async () => {
    expect((await load("nocluster.yaml", "api: {port: 1}\n")).cluster).toEqual({ heartbeatMs: 5000, leaseMs: 15000 });
    const c = await load("cluster.yaml", "cluster:\n  nodeId: central-2\n  heartbeatMs: 1000\n  leaseMs: 4000\nmqtt:\n  url: mqtts://broker.example:8883\n");
    expect(c.cluster).toEqual({ nodeId: "central-2", heartbeatMs: 1000, leaseMs: 4000 });
    expect(c.mqtt.url).toBe("mqtts://broker.example:8883");
  });
  test("the internal listener (live relay between nodes) is off unless set; host defaults to every interface", async () => {
    const c = await load("internal.yaml", "cluster:\n  internalListen: {port: 7443}\n  internalUrl: https://node-1.example:7443\n");
    expect(c.cluster).toMatchObject({ internalListen: { host: "0.0.0.0", port: 7443 }, internalUrl: "https://node-1.example:7443" });
  });
  test.each([
    ["cluster:\n  heartbeatMs: 5000\n  leaseMs: 9000\n", "cluster.leaseMs", "at least twice"],
    ["cluster:\n  nodeId: \"a b\"\n", "cluster.nodeId", "letters, digits"],
    ["cluster:\n  leaseMS: 9000\n", "cluster", '"leaseMS"'],
    ["mqtt:\n  url: mqtt://broker.example:1883\n", "mqtt.url", "mqtts://"],
    ["cluster:\n  internalListen: {port: 7443}\n  internalUrl: http://node-1:7443\n", "cluster.internalUrl", "URL"],
    ["cluster:\n  internalListen: {host: 10.0.0.5}\n", "cluster.internalListen.port", ""],
    ["cluster:\n  internalUrl: https://node-1:7443\n", "cluster.internalUrl", "needs cluster.internalListen"],
  ])("%p is refused, naming the key", async (text, key, words) => {
    const err = await load("badcluster.yaml", text).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(key);
    expect(err.message).toContain(words);
  });
});

describe("web.map (the fleet map's tiles)", () => {
  test("unset: no tiles (an offline grid); a template with {z}/{x}/{y} over https loads", async () => {
    expect((await load("nomap.yaml", "api:\n  port: 9090\n")).web.map).toEqual({ attribution: "" });
    const c = await load("map.yaml", 'web:\n  map:\n    tileUrl: "https://tiles.example/{z}/{x}/{y}.png"\n    attribution: "© Example"\n');
    expect(c.web.map).toEqual({ tileUrl: "https://tiles.example/{z}/{x}/{y}.png", attribution: "© Example" });
  });
  // plain http would be blocked by the page's content security policy: refused at start, not a blank map
  test.each([
    ['web:\n  map:\n    tileUrl: "http://tiles.example/{z}/{x}/{y}.png"\n', "https://"],
    ['web:\n  map:\n    tileUrl: "https://tiles.example/{z}/{x}.png"\n', "{z}, {x} and {y}"],
    ["web:\n  map:\n    tileurl: x\n", '"tileurl"'],
  ])("%p is refused", async (text, words) => {
    const err = await load("badmap.yaml", text).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain("web.map");
    expect(err.message).toContain(words);
  });
});
