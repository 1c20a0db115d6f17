import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import { formatPipelineAudit } from '../audit/pipeline-audit.js';
import { AuditTopicsMissingError } from '../audit/pipeline-audit-read.js';
import { describeAuditTopics, runPipelineAudit } from '../audit/run-audit.js';
import { DEFAULTS } from '../config/defaults.js';
import { CommandError, errorMessage } from '../errors/index.js';
import { headersAsText } from '../kafka/headers.js';
import { describeUnread, scanRanges } from '../kafka/topic-read.js';
import { type GroupStatus, readGroupStatus } from '../observability/group-status.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { FAILURE_HEADERS } from '../routing/failure-headers.js';
import { type ReplayResult, replayDeadLetters } from '../routing/replay.js';
import { countsOf, type DeadLetterEntry, entryOf } from './dead-letters.js';
import { pipelineView, type PipelineView } from './pipeline-view.js';

/** The latest reading of a pipeline's group, and its total lag over time for the chart. */
export interface LagState {
  readonly status?: GroupStatus;
  /** Why the latest reading failed (the previous one is kept). */
  readonly error?: string;
  readonly readAt?: number;
  readonly history: { readonly times: readonly number[]; readonly totals: readonly number[] };
}

/** Copies waiting in one retry tier: the group's lag on its topic, and when the first of them fall due. */
export interface TierView {
  readonly topic: string;
  readonly tier: number;
  readonly waiting: number;
  /** Due times (epoch ms) of the next waiting copies, up to a sample per partition, earliest first. */
  readonly due: readonly number[];
}

export interface DeadLetterIndexView {
  readonly entries: readonly DeadLetterEntry[];
  /** Records read in all (counted even past the index limit). */
  readonly total: number;
  readonly byReason: Record<string, number>;
  readonly byErrorClass: Record<string, number>;
  /** True when the index holds only the first DEFAULTS.consoleDeadLetterIndexLimit records of a topic. */
  readonly capped: boolean;
  readonly readAt: number;
}

export interface DeadLetterDetail {
  readonly entry: DeadLetterEntry;
  readonly headers: Record<string, string>;
  readonly value: Buffer | null;
}

export interface AuditView {
  readonly ok: boolean;
  readonly text: string;
}

/** Everything the console shows and does, so its routes can be tested against a stand-in. */
export interface ConsoleSource {
  pipelines(): readonly PipelineView[];
  lag(pipeline: string): LagState;
  retryTiers(pipeline: string): Promise<TierView[]>;
  deadLetters(pipeline: string): Promise<DeadLetterIndexView>;
  deadLetter(pipeline: string, topic: string, partition: number, offset: string): Promise<DeadLetterDetail | undefined>;
  replay(pipeline: string, request: { readonly filters: readonly string[]; readonly dryRun: boolean; readonly skipUnmatched: boolean }): Promise<ReplayResult>;
  audit(pipeline: string): Promise<AuditView>;
  close(): Promise<void>;
}

/** Due times read per retry partition: enough to say when the next copies fall due, never the whole tier. */
const DUE_SAMPLE = 20;
/** How long a page waits for a read of a few records (a retry tier's due times, one dead letter): a page, not a report. */
const PAGE_READ_TIMEOUT_MS = 15_000;

/**
 * The console's reads, all through the modules the commands use: lag through readGroupStatus (`status`, `lag`),
 * dead letters through the topic reader of `dlt inspect`, replays through replayDeadLetters (`dlt replay`), audits
 * through runPipelineAudit (`audit`). Lag is read on a timer into a short history; dead letters are indexed
 * (headers, not values) and read on from where the index ended on each visit.
 */
export class KafkaConsoleSource implements ConsoleSource {
  private readonly lagStates = new Map<string, { status?: GroupStatus; error?: string; readAt?: number; times: number[]; totals: number[] }>();
  private readonly indexes = new Map<string, DeadLetterIndex>();
  private admin: Admin | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly resolved: readonly ResolvedPipeline[],
    private readonly logger: Logger,
    private readonly options: { readonly lagIntervalMs?: number } = {},
  ) {
    for (const pipeline of resolved) this.lagStates.set(pipeline.name, { times: [], totals: [] });
  }

  /** Reads lag now and then every lagIntervalMs. */
  async start(): Promise<void> {
    await this.pollLag();
    this.timer = setInterval(() => {
      this.polling ??= this.pollLag().finally(() => (this.polling = undefined));
    }, this.options.lagIntervalMs ?? DEFAULTS.consoleLagIntervalMs);
  }

  pipelines(): PipelineView[] {
    return this.resolved.map(pipelineView);
  }

  lag(name: string): LagState {
    const state = this.lagStates.get(name) ?? { times: [], totals: [] };
    return { status: state.status, error: state.error, readAt: state.readAt, history: { times: state.times, totals: state.totals } };
  }

  async retryTiers(name: string): Promise<TierView[]> {
    const pipeline = this.pipeline(name);
    const status = this.lagStates.get(name)?.status;
    const tiers: TierView[] = [];
    for (const input of pipeline.inputs) {
      for (const [index, topic] of pipeline.retryTopicsFor(input).entries()) {
        const partitions = (status?.partitions ?? []).filter((entry) => entry.topic === topic);
        const due: number[] = [];
        const ranges = partitions
          .filter((entry) => entry.lag > 0)
          .map((entry) => {
            const from = BigInt(entry.committed ?? '0');
            const end = BigInt(entry.end);
            return { partition: entry.partition, from, to: from + BigInt(DUE_SAMPLE) < end ? from + BigInt(DUE_SAMPLE) : end };
          });
        await scanRanges(
          this.kafka,
          topic,
          ranges,
          (_partition, message) => {
            const dueAt = Number(headersAsText(message.headers)[FAILURE_HEADERS.dueAt]);
            if (Number.isFinite(dueAt)) due.push(dueAt);
          },
          { timeoutMs: PAGE_READ_TIMEOUT_MS, purpose: `reading the retry topic '${topic}'` },
        );
        tiers.push({ topic, tier: index + 1, waiting: partitions.reduce((sum, entry) => sum + entry.lag, 0), due: due.sort((a, b) => a - b) });
      }
    }
    return tiers;
  }

  async deadLetters(name: string): Promise<DeadLetterIndexView> {
    const pipeline = this.pipeline(name);
    let index = this.indexes.get(name);
    if (!index) {
      index = new DeadLetterIndex(this.kafka, [...new Set(pipeline.inputs.map((input) => pipeline.deadLetterTopicFor(input)))], this.logger);
      this.indexes.set(name, index);
    }
    return index.refresh();
  }

  async deadLetter(name: string, topic: string, partition: number, offset: string): Promise<DeadLetterDetail | undefined> {
    const pipeline = this.pipeline(name);
    if (!pipeline.inputs.some((input) => pipeline.deadLetterTopicFor(input) === topic)) return undefined;
    const at = BigInt(offset);
    let found: KafkaMessage | undefined;
    const { unread } = await scanRanges(this.kafka, topic, [{ partition, from: at, to: at + 1n }], (_partition, message) => (found = message), {
      timeoutMs: PAGE_READ_TIMEOUT_MS,
      purpose: `reading the dead-letter topic '${topic}'`,
    });
    // Not read in time is not "no such dead letter".
    if (!found && unread.length > 0) throw new CommandError(`reading '${topic}' did not reach ${describeUnread(unread)} within ${PAGE_READ_TIMEOUT_MS / 1000} s: try again`);
    if (!found) return undefined;
    return { entry: entryOf(topic, partition, found), headers: headersAsText(found.headers), value: found.value };
  }

  async replay(name: string, request: { filters: readonly string[]; dryRun: boolean; skipUnmatched: boolean }): Promise<ReplayResult> {
    return replayDeadLetters({ kafka: this.kafka, pipeline: this.pipeline(name), logger: this.logger, ...request });
  }

  async audit(name: string): Promise<AuditView> {
    const pipeline = this.pipeline(name);
    try {
      const run = await runPipelineAudit(this.kafka, pipeline, { problemLimit: DEFAULTS.auditProblems, timeoutMs: DEFAULTS.auditReadTimeoutMs });
      return { ok: run.audit.ok, text: formatPipelineAudit(run.audit, { pipeline: name, groupId: pipeline.groupId, topics: describeAuditTopics(run.topics) }) };
    } catch (error) {
      if (error instanceof AuditTopicsMissingError) throw new CommandError(`audit of pipeline '${name}': ${error.message}`);
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.polling;
    await this.admin?.disconnect().catch(() => {});
  }

  private pipeline(name: string): ResolvedPipeline {
    const pipeline = this.resolved.find((candidate) => candidate.name === name);
    if (!pipeline) throw new CommandError(`no pipeline named '${name}'`);
    return pipeline;
  }

  private async pollLag(): Promise<void> {
    for (const pipeline of this.resolved) {
      const state = this.lagStates.get(pipeline.name) ?? { times: [], totals: [] };
      this.lagStates.set(pipeline.name, state);
      try {
        if (!this.admin) {
          const admin = this.kafka.admin();
          await admin.connect();
          this.admin = admin;
        }
        const status = await readGroupStatus(this.admin, pipeline);
        const now = Date.now();
        if (state.error !== undefined) this.logger.info({ pipeline: pipeline.name }, 'reading the lag works again');
        Object.assign(state, { status, error: undefined, readAt: now });
        state.times.push(Math.floor(now / 1000));
        state.totals.push(status.totalLag);
        if (state.times.length > DEFAULTS.consoleLagHistory) {
          state.times.shift();
          state.totals.shift();
        }
      } catch (error) {
        const message = errorMessage(error);
        // Said once when it starts failing, not at every reading (the page shows it meanwhile).
        if (state.error !== message) this.logger.warn({ err: error, pipeline: pipeline.name }, 'reading the lag failed');
        state.error = message;
        // A broken connection is opened again on the next reading.
        const admin = this.admin;
        this.admin = undefined;
        await admin?.disconnect().catch(() => {});
      }
    }
  }
}

/**
 * The dead letters of a pipeline's topics, as entries: read once to the end, then on each refresh from where
 * the last read ended to the end offsets of now. Bounded: past the limit only the counts grow.
 */
class DeadLetterIndex {
  private readonly entries: DeadLetterEntry[] = [];
  private readonly next = new Map<string, bigint>();
  private total = 0;
  private readonly byReason: Record<string, number> = {};
  private readonly byErrorClass: Record<string, number> = {};
  private capped = false;
  private readAt = 0;
  private refreshing: Promise<DeadLetterIndexView> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly topics: readonly string[],
    private readonly logger: Logger,
  ) {}

  refresh(): Promise<DeadLetterIndexView> {
    // Visits at the same time share one read.
    this.refreshing ??= this.read().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async read(): Promise<DeadLetterIndexView> {
    const admin = this.kafka.admin();
    await admin.connect();
    const plans: Array<{ topic: string; ranges: Array<{ partition: number; from: bigint; to: bigint }> }> = [];
    try {
      const existing = new Set(await admin.listTopics());
      for (const topic of this.topics.filter((name) => existing.has(name))) {
        const ranges = (await admin.fetchTopicOffsets(topic)).map(({ partition, low, high }) => {
          const seen = this.next.get(`${topic}|${partition}`) ?? 0n;
          return { partition, from: seen > BigInt(low) ? seen : BigInt(low), to: BigInt(high) };
        });
        plans.push({ topic, ranges });
      }
    } finally {
      await admin.disconnect();
    }
    for (const { topic, ranges } of plans) {
      const { unread } = await scanRanges(this.kafka, topic, ranges, (partition, message) => this.add(entryOf(topic, partition, message)), {
        purpose: `reading the dead-letter topic '${topic}'`,
      });
      // A read cut short resumes where it stopped at the next refresh: what it left must not be skipped.
      const stopped = new Map(unread.map((range) => [range.partition, range.from]));
      for (const range of ranges) this.next.set(`${topic}|${range.partition}`, stopped.get(range.partition) ?? range.to);
      if (unread.length > 0) this.logger.warn({ topic, unread: describeUnread(unread) }, 'dead-letter index: the read stopped before the end; the next refresh goes on from there');
    }
    this.readAt = Date.now();
    return { entries: this.entries, total: this.total, byReason: { ...this.byReason }, byErrorClass: { ...this.byErrorClass }, capped: this.capped, readAt: this.readAt };
  }

  private add(entry: DeadLetterEntry): void {
    this.total++;
    const counts = countsOf([entry]);
    for (const [reason, count] of Object.entries(counts.byReason)) this.byReason[reason] = (this.byReason[reason] ?? 0) + count;
    for (const [name, count] of Object.entries(counts.byErrorClass)) this.byErrorClass[name] = (this.byErrorClass[name] ?? 0) + count;
    if (this.entries.length < DEFAULTS.consoleDeadLetterIndexLimit) this.entries.push(entry);
    else this.capped = true;
  }
}
