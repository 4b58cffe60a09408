import { afterAll, expect, test } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { SELF_SIGNED_LIFETIME_DAYS, loadOrCreateApiCert } from "./tls.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const DAY = 86_400_000;

test("the kept certificate is served again for the same names in any order and IPv6 spelling; near expiry or other names make a new one", async () => {
  const d = await mkdtemp(join(tmpdir(), "outpost-api-tls-"));
  dirs.push(d);
  const sink = new MemorySink();
  const log = new Logger({ component: "api.tls", sink });
  const now = Date.UTC(2026, 11, 6);
  const names = ["localhost", "127.0.0.1", "::1", "fe80::1:2", "edge.example"];
  const first = await loadOrCreateApiCert(d, names, now, log);
  expect(first.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  const kept = await loadOrCreateApiCert(d, ["edge.example", "0:0:0:0:0:0:0:1", "fe80:0:0:0:0:0:1:2", "127.0.0.1", "localhost"], now + 100 * DAY, log);
  expect(kept).toEqual(first);
  expect(await readFile(join(d, "api-tls", "cert.pem"), "utf8")).toBe(first.cert);
  expect(sink.records.filter((r) => /replacing/.test(r.msg))).toEqual([]);
  // 20 days before it expires: replaced, with the reason logged
  const late = await loadOrCreateApiCert(d, names, now + (SELF_SIGNED_LIFETIME_DAYS - 20) * DAY, log);
  expect(late.fingerprint).not.toBe(first.fingerprint);
  expect(sink.records.some((r) => /replacing/.test(r.msg) && r.reason === "expires soon")).toBe(true);
  // a name fewer: replaced
  const fewer = await loadOrCreateApiCert(d, names.slice(1), now + (SELF_SIGNED_LIFETIME_DAYS - 20) * DAY, log);
  expect(fewer.fingerprint).not.toBe(late.fingerprint);
});
