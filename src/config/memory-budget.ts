/**
 * How much a worker fetches at once, from one memory budget. Pure: the budget and the
 * partitions each pipeline consumes in, the consumers' fetch limits out.
 *
 * What a worker holds grows with what it fetches, not with its partitions: KafkaJS keeps two
 * fetch responses per broker at a time (the one being handled and the one fetched ahead, our
 * patch 019; a fetcher fetches again only once the first has been handed over), and a
 * response's records, their outputs and the produce requests that carry them live about as
 * long as it does. So the budget, less what a worker
 * takes before it fetches anything, sizes the fetch responses (`maxBytes`); a pipeline gets a
 * share in proportion to its partitions, and each partition an equal share of its pipeline's
 * response (`maxBytesPerPartition`). Many partitions get a larger response, up to twice that
 * share: every fetch costs a little per partition it names, whatever the partition carries
 * (`MEMORY_MODEL.partitionRoomBytes`).
 *
 * A record batch larger than these limits still comes: the broker returns the first batch of
 * the first non-empty partition of a response whole (KIP-74), and KafkaJS shuffles the
 * partitions of every fetch request, so each partition comes first in turn.
 */

const MiB = 1024 * 1024;

export const MEMORY_MODEL = {
  /**
   * Peak RSS of a busy worker before its fetches and young generation count, in MiB: Node and V8
   * with txstream's modules loaded (88 MiB measured, about half of it the node binary's pages; the
   * schema-registry client loads only with a registry serde), and what a worker at full speed holds
   * whatever it fetches: the old generation's promoted garbage and malloc's arenas. Fitted with
   * bytesPerFetchedByte to peak RSS at 96 partitions, 1 KB JSON records, responses of 256 KiB to
   * 1.25 MiB (2026-12-06: 164–188 / 181–194 / 209–214 / 200–234 MiB at 256 / 512 / 768 / 1280 KiB;
   * load-tests/results/partitions-2026-12-06-fetch-size.md).
   */
  baseMiB: 136,
  /**
   * Peak RSS per byte of fetch response. Its buffer (every record decoded from it is a view into
   * it) lives until the last of its records is written, and once it has lived through two of V8's
   * minor collections it waits for a major one, which V8 starts only when such Buffers have grown
   * 64 MiB since the last: a larger response lives longer, so more of them reach the old generation,
   * and a 1.25 MiB response left 50–80 MiB of them at the RSS peak where a 512 KiB one left 17–50.
   * Hence far more than the bytes themselves (8 was fitted to 1 and 10 MiB responses, 2026-12-04,
   * when a response's Buffers waited for a major collection whatever its size).
   */
  bytesPerFetchedByte: 48,
  /** V8's young generation, both semi-spaces (util/v8-heap.ts): the least a budget gets, and the most. */
  minYoungMiB: 16,
  maxYoungMiB: 128,
  /** The old generation's growth between major collections, in percent: the least a budget gets, and V8's largest factor (4×). */
  minOldGrowthPercent: 100,
  maxOldGrowthPercent: 300,
  /**
   * From this budget (the default) up, V8 grows the old generation as it does by itself: holding it
   * closer costs CPU on every batch (promoted records marked again and again), ~30 % per record at 2×.
   */
  ownOldGrowthFromMb: 176,
  /** V8 starts a major collection by itself once ArrayBuffers have grown this much since the last (its external memory limit). */
  ownBufferCollectionMiB: 64,
  /**
   * Room in the worker's fetch responses per partition they cover, at least: a fetch request names
   * every partition its consumer owns, and the broker reads and KafkaJS encodes and decodes each of
   * them in every round trip, so a response that leaves each only a few records makes that cost per
   * record large. At 96 partitions the default budget's 512 KiB left ~5 KB each, and a worker copying
   * bytes waited on its fetches (0.58–0.77 cores busy at 81,112–87,038 records/s; 98,649–108,795 at
   * 0.81–0.82 with 1 MiB). Up to twice the budget's own share (`bytesPerFetchedByte`): the Buffers
   * waiting for a major collection, which grew with the response size, are bounded apart
   * (`bufferCollectionMiB`), and peak RSS at 96 partitions and the default budget read 176–181 MiB
   * with 1 MiB against 153–183 with 512 KiB (at 384: 186–197 against 186–189, records/s bytes
   * 66,442–68,238 against 60,955–65,451, JSON 50,225–52,180 against 47,394–47,983). And up to
   * `partitionRoomMaxBytes` in all. At the smallest budget, where the old generation is held close,
   * twice its 256 KiB share left JSON at 96 partitions' peak RSS as it was (155.8–163 against
   * 152.3–166.8 MiB) for more CPU per record (14.4–15.9 against 11.1–13 ms per 1,000).
   */
  partitionRoomBytes: 16 * 1024,
  /**
   * The most the partitions' room takes the worker's responses to: 2 and 4 MiB at 96 partitions
   * fetched no faster than 1 MiB (bytes 102,707–105,678 and 78,002–97,340 records/s) and held more
   * (peak RSS up to 193 and 201 MiB). A budget whose own share is larger keeps its share.
   */
  partitionRoomMaxBytes: MiB,
  /** Below this a response carries a few hundred 1 KB records at most: round trips, not records, would bound the throughput. */
  minFetchBytes: 256 * 1024,
  /** KafkaJS's default maxBytes: more per response did not fetch faster on one broker. */
  maxFetchBytes: 10 * MiB,
  /** KafkaJS's default maxBytesPerPartition: about a thousand 1 KB records, two units of the default batch size. */
  maxPartitionBytes: MiB,
  /** One record batch of a few dozen 1 KB records: a smaller share would mostly cut batches short (an incomplete batch is fetched again). */
  minPartitionBytes: 64 * 1024,
} as const;

/**
 * The young generation a budget allows, in MiB: about a tenth of it, as a power of two (V8 grows
 * it by doubling), from 16 to 128 (what V8 takes by itself on a large machine). Smaller means more
 * frequent minor collections and more records promoted to the old generation; 16 at the default
 * budget cost no throughput measurable on a shared 2-core machine.
 */
export function youngGenerationMiB(budgetMb: number): number {
  const power = 2 ** Math.floor(Math.log2(Math.max(1, budgetMb / 10)));
  return Math.min(MEMORY_MODEL.maxYoungMiB, Math.max(MEMORY_MODEL.minYoungMiB, power));
}

/**
 * How far the old generation may grow past what survived its last major collection, in percent
 * (util/v8-heap.ts), or undefined to leave it to V8 (its own factor, up to 4×): V8's own from the
 * default budget up; below it, from 100 at the smallest budget rising to V8's largest (300). A budget
 * below the default buys RSS with CPU: measured at 12 / 96 partitions, 2× gave peak RSS 166 / 173 MiB
 * against 239 / 205 with V8's own factor, for ~30 % more CPU per record on a busy machine, 1.5–1.7×
 * on a quiet one (partitions-2026-12-04-memory-default.md); 40 % took RSS to 155–194 MiB
 * but doubled the CPU per record, every batch's promoted records being marked again and again.
 */
export function oldGenerationGrowthPercent(budgetMb: number): number | undefined {
  const { minOldGrowthPercent, maxOldGrowthPercent, ownOldGrowthFromMb } = MEMORY_MODEL;
  if (budgetMb >= ownOldGrowthFromMb) return undefined;
  const share = Math.max(0, budgetMb - MIN_MEMORY_BUDGET_MB) / (ownOldGrowthFromMb - MIN_MEMORY_BUDGET_MB);
  return Math.round(minOldGrowthPercent + share * (maxOldGrowthPercent - minOldGrowthPercent));
}

/**
 * How many MiB of ArrayBuffers may wait for V8's next major collection before the worker asks for
 * it (util/v8-heap.ts), or undefined to leave it to V8, which collects once they have grown
 * 64 MiB: twice what the budget leaves above the base and the young generation. The fetch
 * responses are most of them, and at the default budget the 64 MiB V8 lets wait put a JSON
 * worker at 96 partitions over its budget by 20-40 MiB.
 */
export function bufferCollectionMiB(budgetMb: number): number | undefined {
  const limit = 2 * headroomMiB(budgetMb);
  return limit < MEMORY_MODEL.ownBufferCollectionMiB ? limit : undefined;
}

/** What the budget leaves above the base and the young generation, in MiB: what fetches and the Buffers they leave may take. */
function headroomMiB(budgetMb: number): number {
  return budgetMb - MEMORY_MODEL.baseMiB - youngGenerationMiB(budgetMb);
}

/** The smallest budget accepted: the base, the smallest young generation and the smallest fetch. */
export const MIN_MEMORY_BUDGET_MB = Math.ceil(
  MEMORY_MODEL.baseMiB + MEMORY_MODEL.minYoungMiB + (MEMORY_MODEL.minFetchBytes * MEMORY_MODEL.bytesPerFetchedByte) / MiB,
);

export interface FetchSizing {
  /** KafkaJS `maxBytes`: the most one fetch response carries (soft: see above). */
  readonly maxBytes: number;
  /** KafkaJS `maxBytesPerPartition`. */
  readonly maxBytesPerPartition: number;
}

/** Why a budget cannot be used, or undefined when it can. */
export function memoryBudgetProblem(budgetMb: number): string | undefined {
  if (!Number.isInteger(budgetMb) || budgetMb < MIN_MEMORY_BUDGET_MB) {
    return `memoryBudgetMb ${String(budgetMb)} is too small; accepted: a whole number of MiB from ${MIN_MEMORY_BUDGET_MB} (a worker takes about ${MEMORY_MODEL.baseMiB} MiB before it fetches anything)`;
  }
  return undefined;
}

/**
 * The fetch limits of each pipeline's consumer: `partitions[i]` is what pipeline i consumes
 * (inputs and retry tiers). The whole budget is shared, since all pipelines fetch at once.
 */
export function fetchSizing(budgetMb: number, partitions: readonly number[]): FetchSizing[] {
  const problem = memoryBudgetProblem(budgetMb);
  if (problem) throw new RangeError(problem);
  const clamp = (value: number, min: number, max: number) => Math.floor(Math.min(max, Math.max(min, value)));
  const counts = partitions.map((count) => Math.max(1, Math.floor(count)));
  const total = counts.reduce((sum, count) => sum + count, 0);
  const share = (headroomMiB(budgetMb) * MiB) / MEMORY_MODEL.bytesPerFetchedByte;
  const room = Math.min(total * MEMORY_MODEL.partitionRoomBytes, 2 * share, MEMORY_MODEL.partitionRoomMaxBytes);
  const fetchable = Math.max(share, room);
  return counts.map((count) => {
    const maxBytes = clamp((fetchable * count) / total, MEMORY_MODEL.minFetchBytes, MEMORY_MODEL.maxFetchBytes);
    const maxBytesPerPartition = clamp(maxBytes / count, MEMORY_MODEL.minPartitionBytes, Math.min(MEMORY_MODEL.maxPartitionBytes, maxBytes));
    return { maxBytes, maxBytesPerPartition };
  });
}
