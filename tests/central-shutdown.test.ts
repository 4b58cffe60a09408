/**
 * Central's shutdown while requests keep arriving: an edge's transfer long poll and work polls
 * (federation, mTLS) and a user's API calls are answered, or get 503 problem+json with
 * Retry-After, while modules and databases close — never a 500, and nothing is logged as an
 * unhandled error (it was: "unhandled error in request /federation/v1/transfer/work:
 * connection disconnected", the transfer database closed under the request).
 */
import "reflect-metadata";
import { afterAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { TRANSFER_VERSION, paths as transferPaths } from "../federation/transfer/index.ts";
import { SHUTDOWN_RETRY_AFTER_S } from "../lib/http/problem.ts";
import { enrollEdge, startTestCentral, until } from "./lib/cp.ts";

let root = "";

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

type Outcome = { what: string; status: number; type: string | null; retryAfter: string | null } | { what: string; error: string };

test("requests during central's close are answered or get 503 with Retry-After, never a 500", async () => {
  root = await mkdtemp(path.join(tmpdir(), "outpost-shutdown-"));
  const sink = new MemorySink();
  const tc = await startTestCentral(root, { log: new Logger({ component: "central", sink, level: "info" }) });
  const id = await enrollEdge(tc.central, "bus 9", path.join(root, "edge"));
  const tls = { cert: id.certPem, key: id.keyPem, ca: id.caPem };
  const work = (waitMs: number) =>
    fetch(`${tc.central.federationUrl}${transferPaths.work}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ v: TRANSFER_VERSION, link: "wifi", usage: { month: "2026-01", byLink: {} }, waitMs }),
      tls,
    } as RequestInit);
  const cameras = () => fetch(`${tc.central.apiUrl}/api/v1/cameras`, { headers: { authorization: `Bearer ${tc.token}` } });
  expect((await work(0)).status).toBe(200);
  expect((await cameras()).status).toBe(200);

  const outcomes: Outcome[] = [];
  const record = async (what: string, req: Promise<Response>) => {
    try {
      const r = await req;
      await r.text();
      outcomes.push({ what, status: r.status, type: r.headers.get("content-type"), retryAfter: r.headers.get("retry-after") });
    } catch (e) {
      outcomes.push({ what, error: (e as Error).message }); // the listener itself is closed: refused, not answered
    }
  };
  // An idle edge's long poll is inside its handler when shutdown starts.
  const longPoll = record("long poll", work(30_000));
  await until("the long poll is inside its handler", () => tc.central.http.active > 0);
  let closed = false;
  const loops = [() => record("work", work(0)), () => record("cameras", cameras())].map(async (send) => {
    while (!closed) await send();
  });
  await tc.close();
  closed = true;
  await Promise.all([...loops, longPoll]);

  const answered = outcomes.filter((o): o is Extract<Outcome, { status: number }> => "status" in o);
  expect(answered.filter((o) => o.status >= 500 && o.status !== 503)).toEqual([]);
  const unavailable = answered.filter((o) => o.status === 503);
  expect(unavailable.length).toBeGreaterThan(0);
  for (const o of unavailable) {
    expect(o.type).toBe("application/problem+json");
    expect(o.retryAfter).toBe(String(SHUTDOWN_RETRY_AFTER_S));
  }
  // The long poll was inside when close began: it is answered (with no work), not cut off.
  expect(outcomes.find((o) => o.what === "long poll")).toMatchObject({ status: 200 });
  expect(sink.records.filter((r) => r.level === "error").map((r) => `${r.msg} ${String(r.path ?? "")} ${String(r.err ?? "")}`)).toEqual([]);
});
