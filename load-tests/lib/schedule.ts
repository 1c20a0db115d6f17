/**
 * The k6-like core, part 1: durations and executors. An executor is turned into
 * a schedule of send times (ms from the start of the test), computed up front:
 * the open model, where arrivals do not wait for the system under test.
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses k6 durations: '500ms', '30s', '2m', '1h', '1m30s', '1.5s'; a bare number is milliseconds. */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new Error(`invalid duration ${input}`);
    return input;
  }
  const text = input.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (let match = part.exec(text); match; match = part.exec(text)) {
    if (match.index !== consumed) break;
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
    consumed = match.index + match[0].length;
  }
  if (consumed === 0 || consumed !== text.length) throw new Error(`invalid duration '${input}' (expected e.g. '500ms', '30s', '2m', '1m30s')`);
  return total;
}

export interface Stage {
  /** Arrival rate (per timeUnit) reached at the end of the stage. */
  readonly target: number;
  readonly duration: string | number;
}

interface Common {
  /** Delay before the scenario starts, like k6's startTime. */
  readonly startTime?: string | number;
}

export interface ConstantArrivalRate extends Common {
  readonly executor: 'constant-arrival-rate';
  /** Arrivals per timeUnit. */
  readonly rate: number;
  readonly timeUnit?: string | number;
  readonly duration: string | number;
}

export interface RampingArrivalRate extends Common {
  readonly executor: 'ramping-arrival-rate';
  readonly startRate?: number;
  readonly timeUnit?: string | number;
  readonly stages: readonly Stage[];
}

/**
 * A fixed number of iterations shared by `vus` senders, as fast as they go. Here it
 * is a backlog: every arrival is due at once (the saturation test's pre-produced input).
 */
export interface SharedIterations extends Common {
  readonly executor: 'shared-iterations';
  readonly iterations: number;
  readonly vus?: number;
  readonly maxDuration?: string | number;
}

export type Executor = ConstantArrivalRate | RampingArrivalRate | SharedIterations;

/** Send times in ms from the test start, ascending. */
export function scheduleOf(executor: Executor): number[] {
  const offset = executor.startTime === undefined ? 0 : parseDuration(executor.startTime);
  const times = baseSchedule(executor);
  return offset === 0 ? times : times.map((t) => t + offset);
}

function baseSchedule(executor: Executor): number[] {
  switch (executor.executor) {
    case 'constant-arrival-rate': {
      const unit = parseDuration(executor.timeUnit ?? '1s');
      const duration = parseDuration(executor.duration);
      if (!(executor.rate > 0)) throw new Error('constant-arrival-rate: rate must be > 0');
      const gap = unit / executor.rate;
      const count = Math.ceil(duration / gap - 1e-9);
      return Array.from({ length: count }, (_, i) => i * gap);
    }
    case 'ramping-arrival-rate':
      return rampingSchedule(executor);
    case 'shared-iterations':
      if (!Number.isInteger(executor.iterations) || executor.iterations < 0) throw new Error('shared-iterations: iterations must be an integer ≥ 0');
      return new Array<number>(executor.iterations).fill(0);
    default:
      throw new Error(`unknown executor '${(executor as { executor: string }).executor}'`);
  }
}

/**
 * The rate moves linearly from one stage's target to the next; arrival k happens
 * when the integral of the rate reaches k (k = 0, 1, …).
 */
function rampingSchedule(executor: RampingArrivalRate): number[] {
  const unit = parseDuration(executor.timeUnit ?? '1s');
  const times: number[] = [];
  let rate = (executor.startRate ?? 0) / unit; // per ms
  let stageStart = 0;
  let cumulative = 0; // arrivals due before stageStart (fractional)
  let next = 0; // index of the next arrival
  for (const stage of executor.stages) {
    const duration = parseDuration(stage.duration);
    const target = stage.target / unit;
    if (stage.target < 0) throw new Error('ramping-arrival-rate: a stage target must be ≥ 0');
    const area = ((rate + target) / 2) * duration;
    const a = duration === 0 ? 0 : (target - rate) / (2 * duration);
    const b = rate;
    while (next < cumulative + area - 1e-9) {
      const x = next - cumulative;
      let t: number;
      if (Math.abs(a) < 1e-15) t = b === 0 ? 0 : x / b;
      else t = (-b + Math.sqrt(Math.max(0, b * b + 4 * a * x))) / (2 * a);
      times.push(stageStart + Math.min(Math.max(t, 0), duration));
      next++;
    }
    cumulative += area;
    stageStart += duration;
    rate = target;
  }
  return times;
}

/** The length of a scenario: its last stage or duration, including startTime. */
export function durationOf(executor: Executor): number {
  const offset = executor.startTime === undefined ? 0 : parseDuration(executor.startTime);
  switch (executor.executor) {
    case 'constant-arrival-rate':
      return offset + parseDuration(executor.duration);
    case 'ramping-arrival-rate':
      return offset + executor.stages.reduce((sum, stage) => sum + parseDuration(stage.duration), 0);
    case 'shared-iterations':
      return offset + (executor.maxDuration === undefined ? 0 : parseDuration(executor.maxDuration));
  }
}

/** Merges several scenarios' schedules into one ascending list of [time, scenario]. */
export function mergeSchedules(scenarios: Record<string, Executor>): Array<{ at: number; scenario: string }> {
  const all: Array<{ at: number; scenario: string }> = [];
  for (const [name, executor] of Object.entries(scenarios)) for (const at of scheduleOf(executor)) all.push({ at, scenario: name });
  return all.sort((x, y) => x.at - y.at);
}
