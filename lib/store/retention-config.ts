/**
 * The retention settings both sides configure the same way (edge `retention`, central
 * `retention`): age in hours and bytes per camera, strict (an unknown key is an error), and
 * their translation into the store's RetentionPolicy.
 */
import { z } from "zod";
import type { RetentionPolicy } from "./retention.ts";

export const RetentionConfig = z
  .object({
    /** Delete footage older than this (hours; fractions allowed). */
    maxAgeHours: z.number().positive().optional(),
    /** Keep at most this many bytes of this camera (all streams). */
    maxBytes: z.number().int().positive().optional(),
  })
  .strict();
export type RetentionConfig = z.infer<typeof RetentionConfig>;

export function retentionPolicy(r: RetentionConfig): RetentionPolicy {
  return {
    ...(r.maxAgeHours !== undefined ? { maxAgeMs: r.maxAgeHours * 3_600_000 } : {}),
    ...(r.maxBytes !== undefined ? { maxBytes: r.maxBytes } : {}),
  };
}
