import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ConfigError, loadConfig } from "./index.ts";

const schema = z.object({
  api: z.object({ port: z.number().int().min(1).max(65535).default(8080), host: z.string().default("127.0.0.1") }).default({ port: 8080, host: "127.0.0.1" }),
  storage: z.object({ segmentSeconds: z.number().positive().default(60) }).default({ segmentSeconds: 60 }),
});
const dir = mkdtempSync(join(tmpdir(), "cfg-"));

describe("config", () => {
  test("defaults apply without a file", async () => {
    expect(await loadConfig(schema, { env: {} })).toEqual({ api: { port: 8080, host: "127.0.0.1" }, storage: { segmentSeconds: 60 } });
  });

  test("YAML and TOML files, env overrides win", async () => {
    writeFileSync(join(dir, "a.yaml"), "api:\n  port: 9000\n");
    writeFileSync(join(dir, "a.toml"), "[storage]\nsegmentSeconds = 10\n");
    expect((await loadConfig(schema, { file: join(dir, "a.yaml"), env: {} })).api.port).toBe(9000);
    expect((await loadConfig(schema, { file: join(dir, "a.toml"), env: {} })).storage.segmentSeconds).toBe(10);
    const c = await loadConfig(schema, { file: join(dir, "a.yaml"), env: { OUTPOST_API__PORT: "9100", OUTPOST_STORAGE__SEGMENT_SECONDS: "5", OUTPOST_LOG_LEVEL: "debug", OUTPOST_START_TRACE: "1" } });
    expect(c.api.port).toBe(9100);
    expect(c.storage.segmentSeconds).toBe(5);
  });

  test("a bad value names the key and the problem", async () => {
    writeFileSync(join(dir, "bad.yaml"), "api:\n  port: seventy\n");
    const err = await loadConfig(schema, { file: join(dir, "bad.yaml"), env: {} }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain("api.port");
  });

  test("a control character in a string value is refused, naming the key", async () => {
    writeFileSync(join(dir, "nul.json"), JSON.stringify({ api: { host: "127.0.0.1\u0000evil" } }));
    const err = await loadConfig(schema, { file: join(dir, "nul.json"), env: {} }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain("api.host: contains the control character U+0000");
  });

  test("unparseable and missing files are clear errors", async () => {
    writeFileSync(join(dir, "broken.yaml"), "api: [unclosed\n");
    expect((await loadConfig(schema, { file: join(dir, "broken.yaml"), env: {} }).catch((e) => e)).message).toContain("cannot parse");
    expect((await loadConfig(schema, { file: join(dir, "nope.yaml"), env: {} }).catch((e) => e)).message).toContain("file not found");
  });
});
