import { afterEach, expect, test } from "bun:test";
import net from "node:net";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { Reachability, type ReachUp } from "./reach.ts";

const log = new Logger({ component: "test", sink: new MemorySink(), level: "error" });
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function listen(port = 0): Promise<net.Server> {
  const s = net.createServer((c) => c.destroy());
  cleanups.push(() => new Promise((r) => s.close(r)));
  return new Promise((r, j) => {
    s.once("error", j);
    s.listen(port, "127.0.0.1", () => r(s));
  });
}

function nextUp(reach: Reachability): Promise<ReachUp & { at: number }> {
  return new Promise((r) => {
    const off = reach.onUp((u) => {
      off();
      r({ ...u, at: Date.now() });
    });
  });
}

test("lost: probes until a fresh connection gets through, then one 'up' with outage=true", async () => {
  const server = await listen();
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r)); // central unreachable (refused)
  const reach = new Reachability({ url: `https://127.0.0.1:${port}`, log, intervalMs: 100, timeoutMs: 300 });
  cleanups.push(() => reach.stop());
  const ups: ReachUp[] = [];
  reach.onUp((u) => ups.push(u));
  const up = nextUp(reach);
  reach.lost("mqtt: connection closed");
  reach.lost("transfer poll failed"); // one run, however many components report
  await Bun.sleep(500);
  expect(ups).toEqual([]);
  expect(reach.probing).toBe(true);
  expect(reach.stats.failures).toBeGreaterThan(1);
  const back = Date.now();
  await listen(port); // the link is back
  const u = await up;
  console.log(`up ${u.at - back} ms after central was reachable again (probe every 100 ms)`);
  expect(u.outage).toBe(true);
  expect(u.reason).toBe("mqtt: connection closed");
  expect(u.at - back).toBeLessThan(2000); // a deadline is the requirement here; generous margin
  expect(reach.probing).toBe(false);
  await Bun.sleep(300);
  expect(ups.length).toBe(1);
  expect(reach.stats.runs).toBe(1);
});

test("suspect on a working link: 'up' without outage (nobody drops a working connection); runs are rate-limited", async () => {
  const server = await listen();
  const reach = new Reachability({ url: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`, log, intervalMs: 100 });
  cleanups.push(() => reach.stop());
  const up = nextUp(reach);
  reach.suspect("no ack for 2 s");
  const u = await up;
  expect(u.outage).toBe(false);
  reach.suspect("again at once");
  expect(reach.probing).toBe(false); // at most one suspect run per 2 s
  expect(reach.stats.runs).toBe(1);
  // A component failing right after central was found reachable fails for its own reasons
  // (a broker refusing it): no probe run, no "up", its own backoff applies.
  reach.lost("mqtt: connection refused by the broker");
  expect(reach.probing).toBe(false);
  await Bun.sleep(2100);
  reach.lost("later: a failure starts a run again");
  expect(reach.probing).toBe(true);
});

test("reached(): a component that got through itself ends the run for everyone", async () => {
  const reach = new Reachability({ url: "https://127.0.0.1:1", log, intervalMs: 100, timeoutMs: 200 });
  cleanups.push(() => reach.stop());
  const up = nextUp(reach);
  reach.lost("live uplink lost");
  await Bun.sleep(350);
  reach.reached();
  const u = await up;
  expect(u.outage).toBe(true);
  expect(reach.probing).toBe(false);
});
