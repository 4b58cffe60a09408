/**
 * The file-system blob store: one file per blob under a root directory (a local disk, or a
 * mount every central node shares). Writes go temp name → fsync → rename → directory fsync,
 * the same order as lib/fsutil's atomic replace, so a reader on any node sees no blob or the
 * whole blob. On NFS this holds only with the export and the mount both `sync` (the default
 * export option; never `async`), and a directory fsync is what makes the rename visible
 * durably — docs/design/storage.md.
 */
import { promises as fs, constants } from "node:fs";
import path from "node:path";
import { fsyncDir } from "../fsutil.ts";
import { checkBlobKey, type BlobInfo, type BlobStore, type TempBlob, type TempSweep } from "./index.ts";

export interface FsBlobStoreOptions {
  /**
   * Who writes through this handle (a central node's id): named in each put's temp file
   * (`<key>.tmp-<writer>~<uuid>`), so a sweeper can tell a dead writer's leftover from a live
   * one's put in flight. Letters, digits, '.', '_' or '-'; none: temp names name nobody.
   */
  writer?: string;
  /** Injected fsyncs (tests); default the real ones. */
  syncFile?: (fh: fs.FileHandle) => Promise<void>;
  syncDir?: (dir: string) => Promise<void>;
}

/** Temp files of put(), with their writer when named: never listed as blobs; a crash leaves them for sweepTemp(). */
const TMP = /\.tmp-(?:([A-Za-z0-9._-]{1,63})~)?[0-9a-f-]+$/;
const WRITER = /^[A-Za-z0-9._-]{1,63}$/;

export class FsBlobStore implements BlobStore {
  readonly location: string;
  private readonly syncFile: (fh: fs.FileHandle) => Promise<void>;
  private readonly syncDir: (dir: string) => Promise<void>;
  private readonly tempPrefix: string;

  constructor(
    readonly root: string,
    opts: FsBlobStoreOptions = {},
  ) {
    this.root = path.resolve(root);
    this.location = this.root;
    this.syncFile = opts.syncFile ?? ((fh) => fh.sync());
    this.syncDir = opts.syncDir ?? fsyncDir;
    if (opts.writer !== undefined && !WRITER.test(opts.writer)) throw new Error(`invalid blob writer ${JSON.stringify(opts.writer)}: 1–63 letters, digits, '.', '_' or '-'`);
    this.tempPrefix = opts.writer === undefined ? ".tmp-" : `.tmp-${opts.writer}~`;
  }

  /** The file of a key (playback and exports read files directly on this store). */
  pathOf(key: string): string {
    return path.join(this.root, checkBlobKey(key));
  }

  async put(key: string, data: Uint8Array): Promise<BlobInfo> {
    const file = this.pathOf(key);
    const dir = path.dirname(file);
    await this.mkdirDurable(dir);
    const tmp = `${file}${this.tempPrefix}${crypto.randomUUID()}`;
    try {
      const fh = await fs.open(tmp, "wx", 0o600);
      try {
        await fh.writeFile(data);
        await this.syncFile(fh);
      } finally {
        await fh.close();
      }
      await fs.rename(tmp, file);
    } catch (e) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw e;
    }
    await this.syncDir(dir);
    const st = await fs.stat(file);
    return { key, bytes: st.size, modifiedMs: st.mtimeMs };
  }

  async get(key: string, range?: { start: number; end?: number }): Promise<Uint8Array | null> {
    const file = this.pathOf(key);
    if (range && (!Number.isSafeInteger(range.start) || range.start < 0 || (range.end !== undefined && (!Number.isSafeInteger(range.end) || range.end < range.start)))) {
      throw new RangeError(`invalid byte range ${JSON.stringify(range)}: need 0 <= start <= end`);
    }
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(file, constants.O_RDONLY);
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") return null;
      throw e;
    }
    try {
      const size = (await fh.stat()).size;
      const start = Math.min(range?.start ?? 0, size);
      const end = Math.min(range?.end ?? size, size);
      const buf = new Uint8Array(end - start);
      let off = 0;
      while (off < buf.length) {
        const { bytesRead } = await fh.read(buf, off, buf.length - off, start + off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return off === buf.length ? buf : buf.subarray(0, off);
    } finally {
      await fh.close();
    }
  }

  async stat(key: string): Promise<BlobInfo | null> {
    try {
      const st = await fs.stat(this.pathOf(key));
      return st.isFile() ? { key, bytes: st.size, modifiedMs: st.mtimeMs } : null;
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") return null;
      throw e;
    }
  }

  async delete(key: string): Promise<boolean> {
    const file = this.pathOf(key);
    try {
      await fs.unlink(file);
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") return false;
      throw e;
    }
    await this.syncDir(path.dirname(file));
    return true;
  }

  async *list(prefix = "", temps?: TempSweep): AsyncIterable<BlobInfo> {
    // Walk only directories whose path can still lead to a key with this prefix.
    const self = this;
    async function* walk(rel: string): AsyncIterable<BlobInfo> {
      let entries;
      try {
        entries = await fs.readdir(rel ? path.join(self.root, rel) : self.root, { withFileTypes: true });
      } catch (e) {
        if ((e as { code?: string }).code === "ENOENT") return;
        throw e;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          const dirKey = `${key}/`;
          if (dirKey.startsWith(prefix) || prefix.startsWith(dirKey)) yield* walk(key);
        } else if (e.isFile() && key.startsWith(prefix)) {
          const temp = TMP.exec(e.name);
          if (temp && !temps) continue;
          const st = await fs.stat(path.join(self.root, key)).catch(() => null);
          if (!st) continue;
          if (!temp) yield { key, bytes: st.size, modifiedMs: st.mtimeMs };
          else if (temps!.removable({ writer: temp[1] ?? null, modifiedMs: st.mtimeMs }) && (await fs.rm(path.join(self.root, key), { force: true }).then(() => true, () => false))) temps!.removed++;
        }
      }
    }
    yield* walk("");
  }

  /** Removes the temp files of put() under `prefix` that `removable` says no put can still finish; returns how many. */
  async sweepTemp(prefix: string, removable: (t: TempBlob) => boolean): Promise<number> {
    const temps: TempSweep = { removable, removed: 0 };
    for await (const _ of this.list(prefix, temps));
    return temps.removed;
  }

  /** mkdir -p that fsyncs each parent whose entry it created (a new directory survives power loss). */
  private async mkdirDurable(dir: string): Promise<void> {
    const first = await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    if (!first) return;
    for (let d = dir; d.length >= first.length; d = path.dirname(d)) await this.syncDir(path.dirname(d));
  }
}
