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

export const jsonSerde: Serde<unknown> = {
  name: 'json',
  decode(bytes, where) {
    if (bytes === null) return null;
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      throw new DecodeError(`record ${at(where)} is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
  },
  encode(value) {
    return value === null || value === undefined ? null : Buffer.from(JSON.stringify(value));
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

export const BUILTIN_SERDES = { json: jsonSerde, string: stringSerde, bytes: bytesSerde } as const;
export type BuiltinSerdeName = keyof typeof BUILTIN_SERDES;
