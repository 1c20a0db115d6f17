import { DecodeError } from '../errors/index.js';

/** Turns record bytes into values and back. Serdes are per topic. */
export interface Serde<T = unknown> {
  readonly name: string;
  decode(bytes: Buffer | null, where: RecordCoordinates): T;
  encode(value: T): Buffer | null;
}

export interface RecordCoordinates {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

const at = (where: RecordCoordinates) => `${where.topic}[${where.partition}]@${where.offset}`;

/** JSON.rawJSON (Node 21+): writes a number's exact digits; not in TypeScript's lib yet. */
const rawJSON = (JSON as JSON & { rawJSON(text: string): unknown }).rawJSON;

const INTEGER_TOKEN = /^-?\d+$/;

type Reviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;

/**
 * Whether a parsed JSON value holds a number that is an integer past 2^53 (JSON.parse rounded it).
 * A stack, not recursion: JSON.parse takes nesting deeper than the call stack does.
 */
function holdsUnsafeInteger(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item === 'number') {
      if (Number.isInteger(item) && !Number.isSafeInteger(item)) return true;
    } else if (Array.isArray(item)) {
      for (const element of item) pending.push(element);
    } else if (item !== null && typeof item === 'object') {
      for (const key in item) pending.push((item as Record<string, unknown>)[key]);
    }
  }
  return false;
}

/** Parses JSON; integers past 2^53 are handed to `big` (with their exact text), the rest as JSON.parse gives them. */
function parseJson(text: string, big: (source: string, key: string) => unknown): unknown {
  const value: unknown = JSON.parse(text);
  // The common case costs a walk of the parsed values: only a value holding such a number is read again, token by token.
  if (!holdsUnsafeInteger(value)) return value;
  const reviver: Reviver = (key, parsed, context) =>
    typeof parsed === 'number' && !Number.isSafeInteger(parsed) && context?.source !== undefined && INTEGER_TOKEN.test(context.source) ? big(context.source, key) : parsed;
  return JSON.parse(text, reviver as Parameters<typeof JSON.parse>[1]);
}

function decodeJson(bytes: Buffer | null, where: RecordCoordinates, big: (source: string, key: string) => unknown): unknown {
  if (bytes === null) return null;
  const text = bytes.toString('utf8');
  try {
    return parseJson(text, big);
  } catch (error) {
    if (error instanceof DecodeError) throw error;
    throw new DecodeError(`record ${at(where)} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

/** `null` (and undefined) encode as a null value: a tombstone, which a compacted topic reads as a delete. */
function encodeJson(value: unknown, replacer?: (key: string, value: unknown) => unknown): Buffer | null {
  return value === null || value === undefined ? null : Buffer.from(JSON.stringify(value, replacer));
}

/**
 * JSON values. A number JavaScript cannot hold exactly (an integer past 2^53, e.g. an id of 19
 * digits) is never rewritten silently: the record fails to decode (dead-lettered as
 * `decode-failed`, the number named); `json-bigint` reads such integers as BigInt instead.
 */
export const jsonSerde: Serde<unknown> = {
  name: 'json',
  decode(bytes, where) {
    return decodeJson(bytes, where, (source, key) => {
      throw new DecodeError(
        `record ${at(where)}: the JSON number ${source}${key ? ` (key '${key}')` : ''} cannot be held exactly by a JavaScript number (it would read as ${Number(source)}); use the serde 'json-bigint', which reads it as a BigInt`,
      );
    });
  },
  encode(value) {
    return encodeJson(value);
  },
};

/**
 * JSON with exact big integers: an integer past 2^53 is read as a BigInt, and a BigInt is
 * written as a JSON number of its exact digits. Other numbers are JavaScript numbers as usual.
 */
export const jsonBigIntSerde: Serde<unknown> = {
  name: 'json-bigint',
  decode(bytes, where) {
    return decodeJson(bytes, where, (source) => BigInt(source));
  },
  encode(value) {
    return encodeJson(value, (_key, item) => (typeof item === 'bigint' ? rawJSON(item.toString()) : item));
  },
};

export const stringSerde: Serde<string | null> = {
  name: 'string',
  decode(bytes, where) {
    if (bytes === null) return null;
    const text = bytes.toString('utf8');
    if (text.includes('\uFFFD') && !Buffer.from(text, 'utf8').equals(bytes)) {
      throw new DecodeError(`record ${at(where)} is not valid UTF-8`);
    }
    return text;
  },
  encode(value) {
    return value === null ? null : Buffer.from(value, 'utf8');
  },
};

export const bytesSerde: Serde<Buffer | null> = {
  name: 'bytes',
  decode(bytes) {
    return bytes;
  },
  encode(value) {
    return value;
  },
};

export const BUILTIN_SERDES = { json: jsonSerde, 'json-bigint': jsonBigIntSerde, string: stringSerde, bytes: bytesSerde } as const;
export type BuiltinSerdeName = keyof typeof BUILTIN_SERDES;
