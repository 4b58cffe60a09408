/**
 * Per-link byte counts for the current month, kept on disk (written after every chunk) so a
 * restart or a crash cannot hand a metered link a fresh budget.
 */
import { mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { writeFileDurable } from "../../lib/store/layout.ts";
import { budgetMonth } from "../../federation/transfer/index.ts";

export interface UsageState {
  month: string;
  byLink: Record<string, number>;
}

export class Usage {
  private s: UsageState = { month: "", byLink: {} };
  private writing: Promise<void> = Promise.resolve();
  constructor(private readonly file: string) {}

  async load(now: number): Promise<void> {
    try {
      this.s = JSON.parse(await readFile(this.file, "utf8")) as UsageState;
    } catch {
      this.s = { month: budgetMonth(now), byLink: {} };
    }
    this.roll(now);
  }

  private roll(now: number): void {
    const m = budgetMonth(now);
    if (this.s.month !== m) this.s = { month: m, byLink: {} };
  }

  used(link: string, now: number): number {
    this.roll(now);
    return this.s.byLink[link] ?? 0;
  }

  add(link: string, n: number, now: number): Promise<void> {
    this.roll(now);
    this.s.byLink[link] = (this.s.byLink[link] ?? 0) + n;
    const snap = JSON.stringify(this.s);
    this.writing = this.writing.then(async () => {
      await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
      await writeFileDurable(this.file, snap);
    });
    return this.writing;
  }

  snapshot(now: number): UsageState {
    this.roll(now);
    return { month: this.s.month, byLink: { ...this.s.byLink } };
  }
}
