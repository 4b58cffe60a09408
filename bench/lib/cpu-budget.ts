/**
 * A fixed CPU budget per benchmark process, from a Linux cgroup's CFS quota: the standard way
 * to emulate a smaller machine. The cluster benchmark (bench/lib/cp-cluster.ts, --node-cpu)
 * gives each central node its own group, so a node's capacity (where p99 passes 1 s) is set
 * by its budget and can be found on a machine whose cores are shared with other work.
 *
 * cgroup v1 (a `cpu` hierarchy with cpu.cfs_quota_us) or v2 (a `cpu` controller; cpu.max),
 * whichever is there; root only. A high weight (v1 cpu.shares, v2 cpu.weight) keeps other
 * processes on the machine from starving a node below its budget: the quota is then both the
 * node's floor (while the machine has that much spare) and its ceiling.
 *
 * The period is 100 ms unless set: a node that spends its quota early in a period waits for the
 * next one, so with 0.09 cores a burst stalls a node for up to 91 ms per period. A shorter period
 * (down to the kernel's 1 ms quota floor ÷ cores) makes the budget behave more like a slower CPU
 * and less like a CPU that stops: what a node's latency then shows is its own work, not the
 * period's length.
 *
 * A shield is a group with a high weight and no quota, for the parts the measured processes
 * share (the database, the broker, the load generator): they are then not starved by unrelated
 * work on the machine either, so a step's p99 is set by the budgeted processes.
 *
 * Groups are named `outpost-cpbench-<pid of the benchmark>-<name>`; they are removed on
 * removeAll(), at exit and on SIGINT/SIGTERM (processes still inside are moved to the parent
 * first), and groups left by a benchmark that was killed (its pid gone) are removed on the next
 * start. Synchronous file operations throughout, so removal also works in an exit handler.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import path from "node:path";

export type CgroupVersion = "v1" | "v2";

export interface CpuController {
  version: CgroupVersion;
  /** The directory the budget groups are made in. */
  dir: string;
}

/** Throttling counters of a group (cpu.stat), cumulative since it was made. */
export interface Throttling {
  periods: number;
  throttled: number;
  throttledMs: number;
}

const PERIOD_US = 100_000;
/** The kernel refuses a CFS quota under 1 ms. */
const MIN_QUOTA_US = 1000;
const PREFIX = "outpost-cpbench-";

/**
 * The cgroup hierarchy with a CPU controller this process may make groups in, or why there is
 * none. `roots` are injectable for tests (a directory tree standing in for /sys/fs/cgroup).
 */
export function findCpuController(
  roots = { v1: "/sys/fs/cgroup/cpu", v2: ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] },
  uid = process.getuid?.() ?? -1,
): CpuController | string {
  if (uid !== 0) return `a CPU budget needs root (cgroups); this process runs as uid ${uid}`;
  if (existsSync(path.join(roots.v1, "cpu.cfs_quota_us"))) return { version: "v1", dir: roots.v1 };
  for (const dir of roots.v2) {
    const controllers = path.join(dir, "cgroup.controllers");
    if (existsSync(controllers) && readFileSync(controllers, "utf8").split(/\s+/).includes("cpu")) return { version: "v2", dir };
  }
  return `no cgroup CPU controller found (cgroup v1 ${roots.v1}/cpu.cfs_quota_us, or v2 cgroup.controllers listing "cpu" in ${roots.v2.join(" or ")})`;
}

/** Parses cpu.stat (v1: throttled_time in ns; v2: throttled_usec). */
export function parseCpuStat(text: string): Throttling {
  const f = new Map(text.split("\n").map((l) => l.trim().split(/\s+/) as [string, string]).filter((kv) => kv.length === 2).map(([k, v]) => [k, Number(v)]));
  const throttledMs = f.has("throttled_usec") ? f.get("throttled_usec")! / 1000 : (f.get("throttled_time") ?? 0) / 1e6;
  return { periods: f.get("nr_periods") ?? 0, throttled: f.get("nr_throttled") ?? 0, throttledMs };
}

/** One group: `cores` of CPU per period (100 ms unless set) for the processes added to it, or a weight alone (a shield). */
export class CpuBudget {
  private constructor(
    readonly ctl: CpuController,
    readonly dir: string,
  ) {}

  static create(ctl: CpuController, name: string, cores: number, periodUs = PERIOD_US): CpuBudget {
    if (!(cores > 0)) throw new Error(`a CPU budget must be > 0 cores (got ${cores})`);
    const quota = Math.round(cores * periodUs);
    if (!(periodUs <= 1_000_000) || quota < MIN_QUOTA_US) throw new Error(`a CPU period of ${periodUs / 1000} ms gives ${cores} cores a quota of ${quota / 1000} ms: the kernel needs ≥ 1 ms (period ≥ ${Math.ceil(MIN_QUOTA_US / cores / 1000)} ms) and a period ≤ 1 s`);
    const b = CpuBudget.group(ctl, name);
    if (ctl.version === "v1") {
      b.write("cpu.cfs_period_us", String(periodUs));
      b.write("cpu.cfs_quota_us", String(quota));
      b.write("cpu.shares", "8192");
    } else {
      b.write("cpu.max", `${quota} ${periodUs}`);
      b.write("cpu.weight", "800");
    }
    return b;
  }

  /** A group with the same high weight and no quota: its processes get the CPU they need before unrelated work does. */
  static shield(ctl: CpuController, name: string): CpuBudget {
    const b = CpuBudget.group(ctl, name);
    b.write(ctl.version === "v1" ? "cpu.shares" : "cpu.weight", ctl.version === "v1" ? "8192" : "800");
    return b;
  }

  private static group(ctl: CpuController, name: string): CpuBudget {
    const dir = path.join(ctl.dir, name);
    if (ctl.version === "v2") enableCpuController(ctl.dir);
    mkdirSync(dir);
    return new CpuBudget(ctl, dir);
  }

  /** Moves a process (all its threads; children it starts later follow) into the group. */
  add(pid: number): void {
    this.write("cgroup.procs", String(pid));
  }

  /** Moves a process and every descendant it has now (e.g. a postmaster and its backends). */
  addTree(pid: number, children = childrenOf): void {
    const pending = [pid];
    for (let p = pending.pop(); p !== undefined; p = pending.pop()) {
      try {
        this.add(p);
      } catch {} // exited meanwhile
      pending.push(...children(p));
    }
  }

  throttling(): Throttling {
    return parseCpuStat(readFileSync(path.join(this.dir, "cpu.stat"), "utf8"));
  }

  /** Moves what is still inside to the parent group, then removes the group. */
  remove(): void {
    if (!existsSync(this.dir)) return;
    removeGroup(this.dir);
  }

  private write(file: string, value: string): void {
    writeFileSync(path.join(this.dir, file), value);
  }
}

/** Child pids of `pid`, from /proc/PID/task/PID/children (the kernel's list; Linux ≥ 3.5). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function removeGroup(dir: string): void {
  const procs = path.join(dir, "cgroup.procs");
  const parent = path.join(path.dirname(dir), "cgroup.procs");
  // A process inside may fork between the move and the rmdir (a postmaster starting a worker),
  // or be dying (killed, not yet reaped: it cannot be moved and still counts): the kernel then
  // refuses with EBUSY, and the move is repeated after a pause — up to ~1 s on a loaded machine.
  // Synchronous, so it also works in an exit handler.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let attempt = 1; ; attempt++) {
    for (const pid of existsSync(procs) ? readFileSync(procs, "utf8").split("\n").filter(Boolean) : []) {
      try {
        writeFileSync(parent, pid);
      } catch {} // exited meanwhile
    }
    try {
      return rmdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EBUSY" || attempt >= 50) throw e;
    }
    Atomics.wait(pause, 0, 0, 20);
  }
}

/** v2: a child group has a cpu.max only if its parent delegates the controller. */
function enableCpuController(dir: string): void {
  const subtree = path.join(dir, "cgroup.subtree_control");
  if (existsSync(subtree) && !readFileSync(subtree, "utf8").split(/\s+/).includes("cpu")) writeFileSync(subtree, "+cpu");
}

/**
 * The budgets of one benchmark run: one group per named process, all removed together (and at
 * exit or on SIGINT/SIGTERM). Removes groups left by earlier runs whose benchmark is gone.
 */
export function cpuBudgets(ctl: CpuController, cores: number, o: { periodUs?: number; pidAlive?: (pid: number) => boolean } = {}) {
  const { periodUs = PERIOD_US, pidAlive = (pid: number) => existsSync(`/proc/${pid}`) } = o;
  for (const d of readdirSync(ctl.dir)) {
    const owner = new RegExp(`^${PREFIX}(\\d+)-`).exec(d);
    if (owner && Number(owner[1]) !== process.pid && !pidAlive(Number(owner[1]))) removeGroup(path.join(ctl.dir, d));
  }
  const made = new Map<string, CpuBudget>();
  const removeAll = () => {
    for (const [name, b] of made) {
      try {
        b.remove();
      } catch (e) {
        process.stderr.write(`could not remove cgroup ${b.dir}: ${e}\n`);
      }
      made.delete(name);
    }
  };
  const onSignal = (sig: NodeJS.Signals) => {
    removeAll();
    process.exit(sig === "SIGINT" ? 130 : 143);
  };
  process.on("exit", removeAll);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    cores,
    /** Puts `pid` in a group of its own named `name`. */
    assign(name: string, pid: number): CpuBudget {
      const b = CpuBudget.create(ctl, `${PREFIX}${process.pid}-${name}`, cores, periodUs);
      made.set(name, b);
      b.add(pid);
      return b;
    },
    /** Puts `pid` and its descendants in the shield group `name` (made at first use): weight, no quota. */
    shield(name: string, pid: number): CpuBudget {
      let b = made.get(name);
      if (!b) made.set(name, (b = CpuBudget.shield(ctl, `${PREFIX}${process.pid}-${name}`)));
      b.addTree(pid);
      return b;
    },
    get(name: string): CpuBudget | undefined {
      return made.get(name);
    },
    removeAll,
  };
}

export type CpuBudgets = ReturnType<typeof cpuBudgets>;
