import { expect, test } from "bun:test";
import { EDGE_PROCESS_ENV, withEdgeProcessEnv } from "./process-env.ts";

test("the edge's allocator setting reaches Bun's mimalloc in a process started with it; an operator's value wins", () => {
  const run = (env: Record<string, string | undefined>) =>
    Bun.spawnSync(["bun", "-e", "1"], { env: { ...env, MIMALLOC_VERBOSE: "1" }, stderr: "pipe", stdout: "pipe" }).stderr.toString();
  const { MIMALLOC_PURGE_DELAY: _, ...plain } = process.env;
  expect(run(plain)).toMatch(/option 'purge_delay': 100\b/); // the runtime's default: purge freed pages after 100 ms
  expect(run(withEdgeProcessEnv(plain))).toMatch(new RegExp(`option 'purge_delay': ${EDGE_PROCESS_ENV.MIMALLOC_PURGE_DELAY}\\b`));
  expect(run(withEdgeProcessEnv({ ...plain, MIMALLOC_PURGE_DELAY: "500" }))).toMatch(/option 'purge_delay': 500\b/);
});
