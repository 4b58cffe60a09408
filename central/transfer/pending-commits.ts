/**
 * Commit rows written before their segment's import (file-index store). There a whole segment
 * is imported into the store (file and the store's own index: MediaStore.importSegment) and
 * logged in tr_commits (central's database) in two steps, in two stores. A node stopped
 * between them held a listed segment the commit log never counted, and the edge's resend did
 * not repair it: the receiver answers a segment it holds as committed without reading it. So the
 * row goes here, durably, before the import and is removed once it is in tr_commits; what is
 * left here is completed at start and when the segment is offered again (receiver.ts).
 * (With the index in the database the row is written in the segment row's own transaction.)
 */
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileDurable } from "../../lib/store/layout.ts";
import type { CommitRow } from "./commits.ts";

const SUFFIX = ".commit.json";

export class PendingCommits {
  constructor(private readonly dir: string) {}

  private file(key: string): string {
    return join(this.dir, `${key}${SUFFIX}`);
  }

  write(key: string, row: CommitRow): Promise<void> {
    return writeFileDurable(this.file(key), JSON.stringify(row));
  }

  /** The row waiting under `key`; null when none (written whole or not at all: writeFileDurable renames). */
  async read(key: string): Promise<CommitRow | null> {
    try {
      return JSON.parse(await readFile(this.file(key), "utf8")) as CommitRow;
    } catch {
      return null;
    }
  }

  async remove(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }

  /** Keys of every row waiting here. */
  async keys(): Promise<string[]> {
    const names = await readdir(this.dir, { recursive: true }).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith(SUFFIX)).map((n) => n.slice(0, -SUFFIX.length));
  }
}
