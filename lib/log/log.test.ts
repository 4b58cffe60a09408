import { expect, test } from "bun:test";
import { Logger, MemorySink, isSecretField, redactUrl } from "./index.ts";

test("records carry level, component, camera and never secrets", () => {
  const sink = new MemorySink();
  const log = new Logger({ component: "ingest", level: "info", sink }).child({ camera: "cam1" });
  log.debug("hidden");
  log.info("connected to rtsp://admin:hunter2@127.0.0.1:8554/cam1", { password: "hunter2", url: "rtsp://u:p@h/x" });
  expect(sink.records).toHaveLength(1);
  const r = sink.records[0]!;
  expect(r).toMatchObject({ level: "info", component: "ingest", camera: "cam1", password: "[redacted]", url: "rtsp://u:***@h/x" });
  expect(JSON.stringify(r)).not.toContain("hunter2");
});

test("redactUrl leaves URLs without credentials alone", () => {
  expect(redactUrl("rtsp://127.0.0.1:8554/cam1/main")).toBe("rtsp://127.0.0.1:8554/cam1/main");
});

test("secret-looking field names are redacted; a plain `key` (live stream key, camera) is not", () => {
  const sink = new MemorySink();
  const log = new Logger({ component: "central.live", level: "info", sink });
  log.info("live uplink connected", { key: "site1.cam1/sub", camera: "cam1", privateKey: "-----BEGIN", apiKey: "ak_1", api_key: "ak_2", token: "t", accessToken: "t2", clientSecret: "s", keyPem: "k", authorization: "Bearer x" });
  const r = sink.records[0]!;
  expect(r).toMatchObject({ key: "site1.cam1/sub", camera: "cam1" });
  for (const f of ["privateKey", "apiKey", "api_key", "token", "accessToken", "clientSecret", "keyPem", "authorization"]) expect(r[f]).toBe("[redacted]");
  for (const name of ["password", "dbPassword", "x-api-key", "SESSION_KEY", "setCookie", "credentials", "passphrase"]) expect(isSecretField(name)).toBe(true);
  for (const name of ["key", "keyframe", "keys", "segmentKey", "monkey", "passengers", "bypassed", "tokenizer", "site"]) expect(isSecretField(name)).toBe(false);
});
