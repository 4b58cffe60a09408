/**
 * Fragmented MP4 (ISO BMFF) reading and light rewriting, shared by edge and central:
 * boxes, init segments, fragments, stream splitting and whole-file scanning. No I/O except
 * scanFile; no knowledge of cameras, stores or HTTP.
 */
export * from "./box.ts";
export * from "./init.ts";
export * from "./fragment.ts";
export * from "./splitter.ts";
export * from "./scan.ts";
export * from "./mux.ts";
export * from "./fragtable.ts";
export * from "./muxed.ts";
export * from "./pool.ts";
