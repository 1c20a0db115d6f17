/**
 * What the measured worker waited on (`--trace-requests`): every Kafka request's round trip by
 * API, the windows in which no output could be written because a commit was on its way, the
 * event loop's delay and the garbage collector's pauses. Installed in the worker process
 * (worker-child.ts) before the worker starts, read back over IPC with its totals.
 *
 * Records/s ratios say that a run was slow, not why. Two readings of this kind told why in one
 * run each: every fetch response waited a produce round trip per unit (the writes ahead,
 * 2026-12-06), and at 96 partitions no output went out for a third of the time, from a
 * commit's first request to the next transaction's first produce (the commit cadence, load-tests
 * README "Commits on a cadence").
 *
 * It wraps every Kafka request of the process (kafka-requests.ts); the wrapper costs a timer
 * read and an array push per request. Counting starts at the worker's first Produce request, so
 * the group join and the topics' metadata at its start are left out.
 */
import { constants, monitorEventLoopDelay, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { wrapKafkaRequests } from './kafka-requests.js';
import { percentile } from './metrics.js';

export interface ApiTrace {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Failed requests by error type (CONCURRENT_TRANSACTIONS, …): retried by KafkaJS or not. */
  readonly errors: Readonly<Record<string, number>>;
}

export interface RequestTrace {
  /** From the first Produce request to the reading. */
  readonly tracedMs: number;
  readonly apis: Readonly<Record<string, ApiTrace>>;
  /**
   * From a commit's first request (AddOffsetsToTxn, or EndTxn alone) to the next Produce: no output
   * goes out meanwhile. It counts idle time too where the input ran dry (a latency run's pauses
   * between its warm-up bursts): read it from runs with a backlog or a steady offered load.
   */
  readonly commitWindows: { readonly count: number; readonly p50Ms: number; readonly p90Ms: number; readonly share: number };
  /** From one commit's first request to the next one's, while the worker was busy (gaps of a second or more left out). */
  readonly commitsApart: { readonly p50Ms: number; readonly p90Ms: number };
  readonly eventLoopDelay: { readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number };
  /** Collections by kind: count and total pause. */
  readonly gc: Readonly<Record<'minor' | 'major' | 'incremental' | 'weak', { readonly count: number; readonly ms: number }>>;
}

const LOOP_RESOLUTION_MS = 10;

const GC_KINDS: ReadonlyArray<readonly [number, keyof RequestTrace['gc']]> = [
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weak'],
];

/** Starts tracing this process's Kafka requests; the function returned reads what was traced so far. */
export function startRequestTrace(): () => RequestTrace {
  const durations = new Map<string, number[]>();
  const errors = new Map<string, Map<string, number>>();
  const windows: number[] = [];
  let firstProduceAt: number | undefined;
  let windowStartedAt: number | undefined;
  let addOffsetsAt: number | undefined;
  const commitStarts: number[] = [];
  const delay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  delay.enable();
  wrapKafkaRequests(async (request, send) => {
    const api = request.apiName;
    const started = performance.now();
    if (api === 'Produce') {
      if (firstProduceAt === undefined) {
        firstProduceAt = started;
        // The event loop's start-up (module loading, the group join) is not what a run waits on.
        delay.reset();
      }
      if (windowStartedAt !== undefined) windows.push(started - windowStartedAt);
      windowStartedAt = undefined;
      addOffsetsAt = undefined;
    } else if (api === 'AddOffsetsToTxn' && firstProduceAt !== undefined) {
      // A commit's first request, unless a produce follows it: a transaction's offsets partition
      // may be added with its first write (patch 031), long before its commit.
      addOffsetsAt ??= started;
    } else if ((api === 'TxnOffsetCommit' || api === 'EndTxn') && firstProduceAt !== undefined) {
      if (windowStartedAt === undefined) {
        windowStartedAt = addOffsetsAt ?? started;
        commitStarts.push(windowStartedAt);
      }
    }
    try {
      return await send();
    } catch (error) {
      if (firstProduceAt !== undefined) {
        const type = (error as { type?: unknown }).type;
        const byType = errors.get(api) ?? new Map<string, number>();
        const key = typeof type === 'string' ? type : (error as Error).name;
        byType.set(key, (byType.get(key) ?? 0) + 1);
        errors.set(api, byType);
      }
      throw error;
    } finally {
      if (firstProduceAt !== undefined) {
        const list = durations.get(api) ?? [];
        list.push(performance.now() - started);
        durations.set(api, list);
      }
    }
  });
  const gc = new Map<string, { count: number; ms: number }>(GC_KINDS.map(([, name]) => [name, { count: 0, ms: 0 }]));
  const observer = new PerformanceObserver((list) => {
    if (firstProduceAt === undefined) return;
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { readonly detail?: { readonly kind?: number } }).detail?.kind;
      const name = GC_KINDS.find(([value]) => value === kind)?.[1];
      const total = name ? gc.get(name) : undefined;
      if (total) {
        total.count++;
        total.ms += entry.duration;
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => {
    const tracedMs = firstProduceAt === undefined ? 0 : performance.now() - firstProduceAt;
    const apis: Record<string, ApiTrace> = {};
    for (const [api, list] of durations) {
      const sorted = [...list].sort((a, b) => a - b);
      apis[api] = { count: sorted.length, p50Ms: tenths(quantile(sorted, 0.5)), p99Ms: tenths(quantile(sorted, 0.99)), errors: Object.fromEntries(errors.get(api) ?? []) };
    }
    const sortedWindows = [...windows].sort((a, b) => a - b);
    const apart = commitStarts
      .slice(1)
      .map((at, i) => at - (commitStarts[i] as number))
      .filter((ms) => ms < 1_000)
      .sort((a, b) => a - b);
    const windowMs = windows.reduce((sum, ms) => sum + ms, 0);
    return {
      tracedMs: Math.round(tracedMs),
      apis,
      commitWindows: {
        count: windows.length,
        p50Ms: tenths(quantile(sortedWindows, 0.5)),
        p90Ms: tenths(quantile(sortedWindows, 0.9)),
        share: tracedMs > 0 ? Math.round((windowMs / tracedMs) * 100) / 100 : 0,
      },
      commitsApart: { p50Ms: tenths(quantile(apart, 0.5)), p90Ms: tenths(quantile(apart, 0.9)) },
      eventLoopDelay: { p50Ms: lateness(delay.percentile(50)), p99Ms: lateness(delay.percentile(99)), maxMs: lateness(delay.max) },
      gc: Object.fromEntries([...gc].map(([name, total]) => [name, { count: total.count, ms: Math.round(total.ms) }])) as RequestTrace['gc'],
    };
  };
}

/** One line for the harness's log. */
export function describeRequestTrace(trace: RequestTrace): string {
  const api = (name: string) => {
    const entry = trace.apis[name];
    if (!entry) return undefined;
    const failed = Object.entries(entry.errors).map(([type, count]) => `${type} ${count}×`);
    return `${name} ${entry.count}× p50 ${entry.p50Ms} / p99 ${entry.p99Ms} ms${failed.length > 0 ? ` (${failed.join(', ')})` : ''}`;
  };
  const requests = ['Fetch', 'Produce', 'AddPartitionsToTxn', 'AddOffsetsToTxn', 'TxnOffsetCommit', 'EndTxn', 'OffsetCommit'].map(api).filter(Boolean);
  const { commitWindows: windows, eventLoopDelay: loop, gc } = trace;
  return (
    `             requests over ${(trace.tracedMs / 1000).toFixed(1)} s: ${requests.join('; ')}` +
    (windows.count > 0 ? `; no output written for ${Math.round(windows.share * 100)} % of the time (${windows.count} commit windows, p50 ${windows.p50Ms} / p90 ${windows.p90Ms} ms, commits p50 ${trace.commitsApart.p50Ms} / p90 ${trace.commitsApart.p90Ms} ms apart)` : '') +
    `; event loop delay p50 ${loop.p50Ms} / p99 ${loop.p99Ms} / max ${loop.maxMs} ms; GC minor ${gc.minor.count}× ${gc.minor.ms} ms, major ${gc.major.count}× ${gc.major.ms} ms`
  );
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? 0 : percentile(sorted, q * 100);
}

/** The histogram holds the intervals between the sampling timer's runs (ns): the delay is what they took past the resolution. */
function lateness(intervalNs: number): number {
  return tenths(Math.max(0, intervalNs / 1e6 - LOOP_RESOLUTION_MS));
}

function tenths(value: number): number {
  return Math.round(value * 10) / 10;
}
