import { expect, test } from "bun:test";
import { EDGE_PROCESS_ENV, withEdgeProcessEnv } from "./process-env.ts";

test("the edge's allocator settings reach Bun's mimalloc in a process started with it; an operator's value wins", () => {
  const run = (env: Record<string, string | undefined>) =>
    Bun.spawnSync(["bun", "-e", "1"], { env: { ...env, MIMALLOC_VERBOSE: "1" }, stderr: "pipe", stdout: "pipe" }).stderr.toString();
  const { MIMALLOC_PURGE_DELAY: _, MIMALLOC_PURGE_HOLES_MIN_INTERVAL: __, ...plain } = process.env;
  expect(run(plain)).toMatch(/option 'purge_delay': 100\b/); // the runtime's default: purge freed pages after 100 ms
  expect(run(withEdgeProcessEnv(plain))).toMatch(new RegExp(`option 'purge_delay': ${EDGE_PROCESS_ENV.MIMALLOC_PURGE_DELAY}\\b`));
  expect(run(withEdgeProcessEnv(plain))).toMatch(new RegExp(`option 'purge_holes_min_interval': ${EDGE_PROCESS_ENV.MIMALLOC_PURGE_HOLES_MIN_INTERVAL}\\b`));
  expect(run(withEdgeProcessEnv({ ...plain, MIMALLOC_PURGE_DELAY: "500" }))).toMatch(/option 'purge_delay': 500\b/);
});

test("the edge's GC timer setting reaches Bun: a slowly allocating process runs far fewer young collections with it; an operator's value wins", () => {
  // ~100 small objects per 50 ms for 4 s: below JavaScriptCore's own allocation trigger, so
  // the collections counted are the runtime's timer (once a second by default).
  const work = "let n=0; const id=setInterval(()=>{ const a=[]; for(let i=0;i<500;i++) a.push({i, s:'x'+i}); globalThis.sink=a; if(++n>=80) clearInterval(id); },50);";
  const edens = (env: Record<string, string | undefined>) =>
    (Bun.spawnSync(["bun", "-e", work], { env: { ...env, BUN_JSC_logGC: "1" }, stderr: "pipe", stdout: "pipe" }).stderr.toString().match(/=> EdenCollection/g) ?? []).length;
  const { BUN_GC_TIMER_INTERVAL: _, ...plain } = process.env;
  expect(EDGE_PROCESS_ENV.BUN_GC_TIMER_INTERVAL).toBe("5000");
  const runtimeDefault = edens(plain);
  const edge = edens(withEdgeProcessEnv(plain));
  expect(runtimeDefault).toBeGreaterThanOrEqual(3);
  expect(edge).toBeLessThanOrEqual(Math.floor(runtimeDefault / 2));
  expect(edens(withEdgeProcessEnv({ ...plain, BUN_GC_TIMER_INTERVAL: "1000" }))).toBeGreaterThanOrEqual(3);
}, 60_000);

test("bin/outpost sets the same values for `outpost edge`", async () => {
  const script = await Bun.file(new URL("../bin/outpost", import.meta.url)).text();
  for (const [k, v] of Object.entries(EDGE_PROCESS_ENV)) expect(script).toContain(`export ${k}="\${${k}:-${v}}"`);
});
