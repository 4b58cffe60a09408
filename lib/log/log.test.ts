import { expect, test } from "bun:test";
import { Logger, MemorySink, redactUrl } from "./index.ts";

test("records carry level, component, camera and never secrets", () => {
  const sink = new MemorySink();
  const log = new Logger({ component: "ingest", level: "info", sink }).child({ camera: "cam1" });
  log.debug("hidden");
  log.info("connected to rtsp://admin:hunter2@127.0.0.1:8554/cam1", { password: "hunter2", url: "rtsp://u:p@h/x" });
  expect(sink.records).toHaveLength(1);
  const r = sink.records[0]!;
  expect(r).toMatchObject({ level: "info", component: "ingest", camera: "cam1", password: "[redacted]", url: "rtsp://u:***@h/x" });
  expect(JSON.stringify(r)).not.toContain("hunter2");
});

test("redactUrl leaves URLs without credentials alone", () => {
  expect(redactUrl("rtsp://127.0.0.1:8554/cam1/main")).toBe("rtsp://127.0.0.1:8554/cam1/main");
});
