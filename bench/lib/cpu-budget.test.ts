// The CPU budget's cgroup handling on a directory tree standing in for /sys/fs/cgroup: what it
// detects, what it writes, and that it removes its groups (and those of a dead benchmark).
import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CpuBudget, cpuBudgets, findCpuController, parseCpuStat } from "./cpu-budget.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function fakeRoot(files: Record<string, string>): string {
  const d = mkdtempSync(path.join(tmpdir(), "cgroup-fake-"));
  dirs.push(d);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(d, f)), { recursive: true });
    writeFileSync(path.join(d, f), text);
  }
  return d;
}

test("detects v1 by its cpu hierarchy, v2 by a cpu controller, and refuses without root", () => {
  const v1 = fakeRoot({ "cpu/cpu.cfs_quota_us": "-1", "cgroup.controllers": "cpu io" });
  expect(findCpuController({ v1: path.join(v1, "cpu"), v2: [v1] }, 0)).toEqual({ version: "v1", dir: path.join(v1, "cpu") });
  const v2 = fakeRoot({ "unified/cgroup.controllers": "cpuset cpu io memory" });
  expect(findCpuController({ v1: path.join(v2, "cpu"), v2: [v2, path.join(v2, "unified")] }, 0)).toEqual({ version: "v2", dir: path.join(v2, "unified") });
  const none = fakeRoot({ "cgroup.controllers": "cpuset io memory" });
  expect(findCpuController({ v1: path.join(none, "cpu"), v2: [none] }, 0)).toContain("no cgroup CPU controller");
  expect(findCpuController({ v1: path.join(v1, "cpu"), v2: [v1] }, 1000)).toContain("needs root");
});

test("cpu.stat of either version: throttled time in ms", () => {
  expect(parseCpuStat("nr_periods 200\nnr_throttled 77\nthrottled_time 6417000000\nnr_bursts 0\n")).toEqual({ periods: 200, throttled: 77, throttledMs: 6417 });
  expect(parseCpuStat("usage_usec 5\nnr_periods 10\nnr_throttled 2\nthrottled_usec 1500\n")).toEqual({ periods: 10, throttled: 2, throttledMs: 1.5 });
});

test("v1: quota for the cores, high shares, the pid in the group; v2: cpu.max, the controller delegated", () => {
  const v1 = fakeRoot({ "cgroup.procs": "" });
  const b = CpuBudget.create({ version: "v1", dir: v1 }, "g", 0.08);
  b.add(4242);
  const read = (f: string) => readFileSync(path.join(v1, "g", f), "utf8");
  expect([read("cpu.cfs_period_us"), read("cpu.cfs_quota_us"), read("cpu.shares"), read("cgroup.procs")]).toEqual(["100000", "8000", "8192", "4242"]);
  const v2 = fakeRoot({ "cgroup.subtree_control": "memory" });
  CpuBudget.create({ version: "v2", dir: v2 }, "g", 1.5);
  expect(readFileSync(path.join(v2, "g", "cpu.max"), "utf8")).toBe("150000 100000");
  expect(readFileSync(path.join(v2, "cgroup.subtree_control"), "utf8")).toBe("+cpu");
  expect(() => CpuBudget.create({ version: "v1", dir: v1 }, "zero", 0)).toThrow();
});

test("a shorter period: quota scaled to it, refused below the kernel's 1 ms quota; a shield has weight and no quota", () => {
  const v1 = fakeRoot({ "cgroup.procs": "" });
  CpuBudget.create({ version: "v1", dir: v1 }, "p20", 0.09, 20_000);
  const read = (g: string, f: string) => readFileSync(path.join(v1, g, f), "utf8");
  expect([read("p20", "cpu.cfs_period_us"), read("p20", "cpu.cfs_quota_us")]).toEqual(["20000", "1800"]);
  expect(() => CpuBudget.create({ version: "v1", dir: v1 }, "p10", 0.09, 10_000)).toThrow(/period ≥ 12 ms/);
  const s = CpuBudget.shield({ version: "v1", dir: v1 }, "shared");
  expect(read("shared", "cpu.shares")).toBe("8192");
  expect(existsSync(path.join(v1, "shared", "cpu.cfs_quota_us"))).toBe(false);
  // A process tree: each pid written once, children found through the injected lookup.
  const tree: Record<number, number[]> = { 10: [11, 12], 12: [13] };
  const written: number[] = [];
  s.add = (pid: number) => void written.push(pid);
  s.addTree(10, (p) => tree[p] ?? []);
  expect(written.sort()).toEqual([10, 11, 12, 13]);
});

test("groups of a dead benchmark are removed at the next start; others are left", () => {
  const ctl = { version: "v1" as const, dir: fakeRoot({ "cgroup.procs": "" }) };
  for (const d of ["outpost-cpbench-999999-node-1", "outpost-cpbench-1-node-1", "someone-else"]) mkdirSync(path.join(ctl.dir, d));
  cpuBudgets(ctl, 0.1, { pidAlive: (pid) => pid !== 999999 });
  expect(["outpost-cpbench-999999-node-1", "outpost-cpbench-1-node-1", "someone-else"].map((d) => existsSync(path.join(ctl.dir, d)))).toEqual([false, true, true]);
});

// The real thing where it can run (root, cgroup v1 or v2 with a cpu controller): a process is
// limited, and removal with the process still running moves it out and removes the group.
const real = findCpuController();
test.skipIf(typeof real === "string")("a real group: the process inside is throttled, and removal with it still running", async () => {
  const ctl = real as Exclude<typeof real, string>;
  const budgets = cpuBudgets(ctl, 0.05);
  const spin = Bun.spawn(["sh", "-c", "while :; do :; done"]);
  try {
    const b = budgets.assign("test-spin", spin.pid);
    expect(readFileSync(`/proc/${spin.pid}/cgroup`, "utf8")).toContain(path.basename(b.dir));
    await Bun.sleep(500);
    expect(b.throttling().throttled).toBeGreaterThan(0);
    // The shield takes the process tree: a shell and the sleep it started.
    const tree = Bun.spawn(["sh", "-c", "sleep 30 & wait"]);
    await Bun.sleep(100);
    const shield = budgets.shield("test-shield", tree.pid);
    const child = Number(readFileSync(`/proc/${tree.pid}/task/${tree.pid}/children`, "utf8").trim());
    expect(readFileSync(`/proc/${child}/cgroup`, "utf8")).toContain(path.basename(shield.dir));
    tree.kill("SIGKILL");
    process.kill(child, "SIGKILL");
    budgets.removeAll();
    expect(existsSync(b.dir)).toBe(false);
    expect(existsSync(shield.dir)).toBe(false);
    expect(readFileSync(`/proc/${spin.pid}/cgroup`, "utf8")).not.toContain(path.basename(b.dir));
  } finally {
    spin.kill("SIGKILL");
    budgets.removeAll();
  }
});
