/**
 * Pidfile of the GStreamer children this edge started. If the edge is killed hard, children
 * normally die with it (parent-death signal via setpriv, SIGPIPE on stdout); this file is the
 * last line of defence: at startup every pid it lists that still runs gst-launch is killed.
 */
import { readFileSync, existsSync } from "node:fs";
import { writeFileAtomic } from "../../lib/fsutil.ts";
import type { Logger } from "../../lib/log/index.ts";

export class PidFile {
  private pids = new Set<number>();
  private writing: Promise<void> = Promise.resolve();
  constructor(
    readonly path: string,
    private readonly log?: Logger,
  ) {}

  add(pid: number): void {
    this.pids.add(pid);
    this.flush();
  }

  remove(pid: number): void {
    if (this.pids.delete(pid)) this.flush();
  }

  /** Writes the current list (empty at start: the stale pids are dealt with); resolves once it is on disk. */
  save(): Promise<void> {
    this.flush();
    return this.writing;
  }

  private flush(): void {
    // Atomic (a crash mid-write must not leave a half file that hides live children) and
    // serialized per path: children start and end concurrently.
    this.writing = writeFileAtomic(this.path, [...this.pids].join("\n") + "\n").catch((e) => this.log?.error("pid file not saved", { err: e as Error }));
  }

  /** Kills gst-launch processes left by a previous run of this edge; returns the pids killed. */
  static killStale(path: string, log?: Logger): number[] {
    if (!existsSync(path)) return [];
    const killed: number[] = [];
    for (const line of readFileSync(path, "utf8").split("\n")) {
      const pid = Number(line.trim());
      if (!Number.isInteger(pid) || pid <= 1) continue;
      let cmd = "";
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        continue; // gone
      }
      // The pid may have been reused by an unrelated process: only kill our pipelines.
      if (!cmd.includes("gst-launch-1.0") || !cmd.includes("rtspsrc")) continue;
      try {
        process.kill(pid, "SIGKILL");
        killed.push(pid);
        log?.warn("killed a GStreamer child left by a previous run", { pid });
      } catch {
        // exited meanwhile
      }
    }
    return killed;
  }
}
