import { z } from 'zod';

/**
 * Concurrency inside a partition. `partition`: one record at a time, in offset order (the
 * default). `key`: records of one key one at a time, in offset order; other keys at the same
 * time, up to `maxInFlight` per partition. `unordered`: up to `maxInFlight` at a time, in any order.
 */
export const ORDERINGS = ['partition', 'key', 'unordered'] as const;
export type Ordering = (typeof ORDERINGS)[number];

/** The most calls in flight one partition may have: far above what a handler's I/O needs, low enough to bound memory. */
export const MAX_IN_FLIGHT_LIMIT = 10_000;

export const concurrencySchema = z
  .object({
    ordering: z.enum(ORDERINGS).optional(),
    maxInFlight: z.number().int().min(1).max(MAX_IN_FLIGHT_LIMIT).optional(),
  })
  .strict();

export type ConcurrencyInput = z.infer<typeof concurrencySchema>;

export interface ResolvedConcurrency {
  readonly ordering: Ordering;
  readonly maxInFlight: number;
}
