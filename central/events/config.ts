/** Configuration of central operations (key `operations` in central's config): first admin, late events, log retention, login throttling, rules. */
import { z } from "zod";
import { TimeProfile } from "../rules/schema.ts";

export const OperationsConfig = z
  .strictObject({
    /** Password of the first admin instead of a random one (only used when no admin exists yet). */
    adminPassword: z.string().min(8).optional(),
    /** An event arriving more than this after it happened is marked late. */
    lateAfterSeconds: z.number().positive().default(60),
    syslogRetentionDays: z.number().positive().default(30),
    login: z
      .strictObject({
        maxFailures: z.number().int().positive().default(5),
        windowMinutes: z.number().positive().default(15),
        lockMinutes: z.number().positive().default(5),
        /** Failures from one address across all user names before it is locked; default 4 × maxFailures. */
        addressMaxFailures: z.number().int().positive().optional(),
        /** Per user, all addresses: failures before only clean addresses are checked, and how fast one is forgiven. */
        userBurst: z.number().int().positive().default(20),
        userRefillSeconds: z.number().positive().default(60),
      })
      .prefault({}),
    /** Rules loaded (and replaced) at every start; validated like the API's (central refuses to start on a bad one). */
    rules: z.array(z.record(z.string(), z.unknown())).default([]),
    timeProfiles: z.array(TimeProfile).default([]),
  })
  .prefault({});
export type OperationsConfig = z.infer<typeof OperationsConfig>;

