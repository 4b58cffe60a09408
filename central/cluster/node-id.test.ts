/** The generated node id: made once, the same at every later start; a damaged file stops the start with its path. */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { persistedNodeId } from "./node-id.ts";

test("a node id is made at first start and kept; a damaged file is refused by name", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "outpost-nodeid-"));
  try {
    const id = persistedNodeId(dir);
    expect(id).toMatch(/^node-[0-9a-f]{12}$/);
    expect(persistedNodeId(dir)).toBe(id);
    expect(readFileSync(path.join(dir, "node-id"), "utf8").trim()).toBe(id);
    writeFileSync(path.join(dir, "node-id"), "two words\n");
    expect(() => persistedNodeId(dir)).toThrow(/node-id: not a node id/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
