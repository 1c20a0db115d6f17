/**
 * Record generators: size, key distribution (uniform or zipf hot keys), a ratio of
 * poison records (values the worker cannot decode, so it dead-letters them), and
 * JSON or Avro values. Deterministic for a seed. Every good value carries the
 * sequence number `n` and the intended send time `sentAt` (epoch ms), first, so
 * the latency reader finds them without decoding the whole value.
 */
import avro from 'avsc';
import { DecodeError, type Serde } from '../../src/index.js';

export type KeyDistribution = 'uniform' | 'zipf';
export type ValueFormat = 'json' | 'avro';

export interface WorkloadOptions {
  /** Approximate size of a value in bytes. */
  readonly recordBytes?: number;
  readonly keys?: number;
  readonly keyDistribution?: KeyDistribution;
  /** Zipf exponent s: key k (1-based) has weight 1/k^s. 1.0 is classic. */
  readonly zipfExponent?: number;
  /** Fraction of records whose value cannot be decoded (0…1). */
  readonly poisonRatio?: number;
  readonly format?: ValueFormat;
  readonly seed?: number;
}

export interface GeneratedRecord {
  readonly key: string;
  readonly value: Buffer;
  readonly poison: boolean;
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks key indexes 0…keys-1: uniformly, or zipf (index 0 the hottest). */
export function keyPicker(keys: number, distribution: KeyDistribution, random: () => number, exponent = 1): () => number {
  if (!Number.isInteger(keys) || keys < 1) throw new Error('keys must be an integer ≥ 1');
  if (distribution === 'uniform') return () => Math.min(keys - 1, Math.floor(random() * keys));
  const cdf = new Float64Array(keys);
  let total = 0;
  for (let k = 0; k < keys; k++) {
    total += 1 / Math.pow(k + 1, exponent);
    cdf[k] = total;
  }
  return () => {
    const target = random() * total;
    let low = 0;
    let high = keys - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((cdf[mid] as number) < target) low = mid + 1;
      else high = mid;
    }
    return low;
  };
}

export const AVRO_SCHEMA = {
  type: 'record',
  name: 'LoadRecord',
  namespace: 'txstream.load',
  fields: [
    { name: 'n', type: 'long' },
    { name: 'sentAt', type: 'double' },
    { name: 'pad', type: 'string' },
  ],
} as const;

const avroType = avro.Type.forSchema(AVRO_SCHEMA as unknown as avro.Schema);

export interface LoadValue {
  readonly n: number;
  readonly sentAt: number;
  readonly pad: string;
}

/** The worker's serde for Avro load records; undecodable bytes throw DecodeError (→ dead letter). */
export const avroLoadSerde: Serde<unknown> = {
  name: 'avro-load',
  decode(bytes, where) {
    if (bytes === null) return null;
    try {
      const { value, offset } = avroType.decode(bytes, 0);
      if (offset !== bytes.length) throw new Error(`${bytes.length - offset} trailing bytes`);
      return value as unknown;
    } catch (error) {
      throw new DecodeError(`record ${where.topic}[${where.partition}]@${where.offset} is not a LoadRecord: ${(error as Error).message}`);
    }
  },
  encode(value) {
    return value === null || value === undefined ? null : avroType.toBuffer(value);
  },
};

/** Reads n and sentAt from a good value without decoding the padding (JSON) or by decoding (Avro). */
export function readStamp(value: Buffer | null, format: ValueFormat): { n: number; sentAt: number } | undefined {
  if (value === null) return undefined;
  if (format === 'json') {
    const match = /^\{"n":(\d+),"sentAt":(\d+(?:\.\d+)?)/.exec(value.toString('latin1', 0, 64));
    return match ? { n: Number(match[1]), sentAt: Number(match[2]) } : undefined;
  }
  try {
    const { value: decoded, offset } = avroType.decode(value, 0) as { value: LoadValue | undefined; offset: number };
    return decoded && offset === value.length ? { n: Number(decoded.n), sentAt: decoded.sentAt } : undefined;
  } catch {
    return undefined;
  }
}

export interface Generator {
  /** The n-th record, stamped with its intended send time. */
  next(n: number, sentAt: number): GeneratedRecord;
  readonly options: Required<WorkloadOptions>;
}

export function createGenerator(options: WorkloadOptions = {}): Generator {
  const resolved: Required<WorkloadOptions> = {
    recordBytes: options.recordBytes ?? 1024,
    keys: options.keys ?? 1000,
    keyDistribution: options.keyDistribution ?? 'uniform',
    zipfExponent: options.zipfExponent ?? 1.1,
    poisonRatio: options.poisonRatio ?? 0,
    format: options.format ?? 'json',
    seed: options.seed ?? 42,
  };
  if (resolved.poisonRatio < 0 || resolved.poisonRatio > 1) throw new Error('poisonRatio must be within 0…1');
  const random = seededRandom(resolved.seed);
  const pickKey = keyPicker(resolved.keys, resolved.keyDistribution, random, resolved.zipfExponent);
  const padCache = new Map<number, string>();
  const pad = (length: number) => {
    let text = padCache.get(length);
    if (text === undefined) {
      text = 'x'.repeat(Math.max(0, length));
      padCache.set(length, text);
    }
    return text;
  };
  return {
    options: resolved,
    next(n, sentAt) {
      const key = `key-${pickKey()}`;
      const poison = resolved.poisonRatio > 0 && random() < resolved.poisonRatio;
      let value: Buffer;
      if (poison) {
        // Not JSON, and not a LoadRecord either (the long's varint runs past the end).
        value = Buffer.concat([Buffer.from([0xff, 0xff, 0xff]), Buffer.from(`{poison ${n}`), Buffer.alloc(Math.max(0, resolved.recordBytes - 20), 0xff)]);
      } else if (resolved.format === 'json') {
        const head = `{"n":${n},"sentAt":${sentAt},"pad":"`;
        value = Buffer.from(`${head}${pad(resolved.recordBytes - head.length - 2)}"}`);
      } else {
        const overhead = 24;
        value = avroType.toBuffer({ n, sentAt, pad: pad(resolved.recordBytes - overhead) });
      }
      return { key, value, poison };
    },
  };
}
