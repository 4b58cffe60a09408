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
