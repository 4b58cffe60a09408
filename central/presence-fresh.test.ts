/**
 * The user API awaits the shared presence's freshness before a GET (central/cluster/presence.ts
 * reads other nodes' sites on demand): a route answers from presence as fresh as the read keeps
 * it, even right after idleness; liveness (polled by load balancers all day) and the API document
 * never wake the read. A real central over plain HTTP with a stand-in presence.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { startCentral, type Central } from "./index.ts";

let root: string;
let central: Central;
const asked: string[] = [];
let read = 0;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-presence-fresh-"));
  central = await startCentral(
    { dataDir: path.join(root, "c"), api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 } },
    {
      log: new Logger({ component: "test", sink: new MemorySink() }),
      apiRoutes: (api) =>
        api.route({ method: "get", path: "/api/v1/test-presence", summary: "what the presence read had brought when the handler ran", tag: "test", rights: { public: "test route" } }, (c) => c.json({ read })),
      modules: async () => ({
        presenceFresh: async () => {
          asked.push("fresh");
          await Bun.sleep(20); // a read in flight: the handler must not run before it ends
          read++;
        },
      }),
    },
  );
});
afterAll(async () => {
  await central?.close();
  await fs.rm(root, { recursive: true, force: true });
});

test("a GET of the user API runs after the presence read it awaited; liveness and the API document do not ask", async () => {
  for (const p of ["/api/v1/health", "/api/v1/openapi.json"]) expect((await fetch(central.apiUrl + p)).status).toBe(200);
  expect(asked).toEqual([]);
  const res = await fetch(central.apiUrl + "/api/v1/test-presence");
  expect(await res.json()).toEqual({ read: 1 });
  expect(asked).toEqual(["fresh"]);
});
