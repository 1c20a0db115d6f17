// Types only: the client library (with avsc, ajv and protobufjs, ~6 MiB of a worker's RSS) is
// loaded when a registry serde is made, not by every worker that imports this module.
import type { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { ConfigError, DecodeError, errorMessage, HandlerContractError } from '../errors/index.js';
import { assertRegistryUrl, basicAuthHeaders, type RegistryAuth } from './registry-auth.js';
import type { RecordCoordinates, Serde } from './index.js';

/**
 * Avro, JSON Schema and Protobuf values in the Confluent wire format (magic byte 0,
 * the schema id as a 4-byte big-endian integer, [Protobuf: message indexes], payload),
 * with the schemas in a Confluent-compatible registry (@kafkajs/confluent-schema-registry).
 *
 * The worker's `Serde` is synchronous, and fetching a schema is not: a registry serde is
 * a `PreparableSerde`. `prepare(values)` fetches the schemas of a batch's ids before the
 * batch is decoded (a registry that does not answer fails `prepare` with a retryable
 * error); `decode` is then synchronous. The writer schema for `encode` is resolved when
 * the serde is created.
 */

export type RegistryFormat = 'avro' | 'json-schema' | 'protobuf';

/** A serde that must see a batch's raw values before it can decode them synchronously. */
export interface PreparableSerde<T = unknown> extends Serde<T> {
  prepare(values: ReadonlyArray<Buffer | null>): Promise<void>;
}

export function isPreparableSerde<T>(serde: Serde<T>): serde is PreparableSerde<T> {
  return typeof (serde as Partial<PreparableSerde<T>>).prepare === 'function';
}

export interface RegistrySerdeOptions {
  /** The registry's base URL (for Apicurio: `http://host:port/apis/ccompat/v7`). */
  readonly url: string;
  readonly format: RegistryFormat;
  /** Subject the writer schema is registered under or looked up in (`<topic>-value` by convention). */
  readonly subject: string;
  /** Writer schema text (.avsc JSON, JSON Schema, .proto): registered under the subject if it is not there yet. */
  readonly schema?: string;
  /** Without `schema`: encode with the subject's latest version. */
  readonly forEncoding?: boolean;
  /** Protobuf: the top-level message type to encode and decode (default: the first of the file). */
  readonly messageName?: string;
  /**
   * Fetch every version of the subject now (default true), so records written with them decode
   * at once even where the worker does not call prepare(). A subject not yet registered is fine.
   */
  readonly prefetchSubject?: boolean;
  /** A client to share (its schema cache); default: one for `url`. */
  readonly client?: SchemaRegistry;
  /** HTTP basic auth; the URL itself must not carry credentials. */
  readonly auth?: RegistryAuth;
}

const MAGIC = 0;
const HEADER = 5;
/** How long an id the registry did not know stays known as unknown before it is asked again. */
const UNKNOWN_ID_TTL_MS = 30_000;

/** The registry's names of the schema types (the library's SchemaType values). */
type SchemaTypeName = `${SchemaType}`;

const SCHEMA_TYPES: Record<RegistryFormat, SchemaTypeName> = {
  avro: 'AVRO',
  'json-schema': 'JSON',
  protobuf: 'PROTOBUF',
};

interface WireSchema {
  toBuffer(payload: object): Buffer;
  fromBuffer(buffer: Buffer): unknown;
  isValid(payload: object, opts?: { errorHook: (path: string[], value: unknown, type?: unknown) => void }): boolean;
}

const at = (where: RecordCoordinates) => `${where.topic}[${where.partition}]@${where.offset}`;

export class RegistrySerde implements PreparableSerde<unknown> {
  readonly name: string;
  private readonly schemas = new Map<number, WireSchema>();
  private readonly unknownIds = new Map<number, { reason: string; at: number }>();
  private writer: { id: number; schema: WireSchema } | undefined;
  private messageIndexes: readonly number[];

  private constructor(
    private readonly options: RegistrySerdeOptions,
    private readonly client: SchemaRegistry,
  ) {
    this.name = `${options.format}(${options.subject})`;
    this.messageIndexes = options.format === 'protobuf' ? protobufMessageIndexes(options.schema, options.messageName) : [];
  }

  /** Creates the serde; with a schema or `forEncoding`, registers or looks up the writer schema now. */
  static async create(options: RegistrySerdeOptions): Promise<RegistrySerde> {
    assertRegistryUrl(options.url, `serde ${options.format}(${options.subject})`);
    const client = options.client ?? (await registryClient(options));
    const serde = new RegistrySerde(options, client);
    if (options.schema !== undefined || options.forEncoding) await serde.resolveWriter();
    if (options.prefetchSubject !== false) await serde.prefetchSubject();
    return serde;
  }

  /** The id `encode` writes. */
  get writerId(): number | undefined {
    return this.writer?.id;
  }

  private async resolveWriter(): Promise<void> {
    const { subject, schema, url, format } = this.options;
    let id: number;
    try {
      id = schema === undefined ? await this.client.getLatestSchemaId(subject) : await registerSchema(url, subject, SCHEMA_TYPES[format], schema, this.options.auth);
    } catch (error) {
      throw new ConfigError(
        schema === undefined
          ? `subject '${subject}' has no schema in the registry at ${url} (${describeRegistryError(error)}); give the serde a schema file to register`
          : `cannot register the ${format} schema under subject '${subject}' at ${url}: ${describeRegistryError(error)}`,
        `serde ${this.name}`,
      );
    }
    this.writer = { id, schema: (await this.client.getSchema(id)) as WireSchema };
    this.schemas.set(id, this.writer.schema);
    if (format === 'protobuf' && schema === undefined && this.options.messageName !== undefined) {
      // The message's index path comes from the schema text: fetch the text of the latest version.
      const found = await getJson(`${url}/schemas/ids/${id}`, this.options.auth);
      const text = (found.body as { schema?: unknown } | undefined)?.schema;
      if (typeof text === 'string') this.messageIndexes = protobufMessageIndexes(text, this.options.messageName);
    }
  }

  /** Fetches the schemas of every version of the subject (none when the subject does not exist yet). */
  async prefetchSubject(): Promise<void> {
    const { url, subject } = this.options;
    const base = `${url}/subjects/${encodeURIComponent(subject)}/versions`;
    const versions = await getJson(base, this.options.auth);
    if (versions.status === 404 || !Array.isArray(versions.body)) return;
    for (const version of versions.body) {
      const found = await getJson(`${base}/${String(version)}`, this.options.auth);
      const id = (found.body as { id?: unknown } | undefined)?.id;
      if (typeof id === 'number' && !this.schemas.has(id)) this.schemas.set(id, (await this.client.getSchema(id)) as WireSchema);
    }
  }

  async prepare(values: ReadonlyArray<Buffer | null>): Promise<void> {
    const now = Date.now();
    const missing = new Set<number>();
    for (const value of values) {
      if (value === null || value.length < HEADER || value[0] !== MAGIC) continue;
      const id = value.readInt32BE(1);
      const unknown = this.unknownIds.get(id);
      if (this.schemas.has(id) || (unknown && now - unknown.at < UNKNOWN_ID_TTL_MS)) continue;
      missing.add(id);
    }
    await Promise.all([...missing].map((id) => this.fetchSchema(id)));
  }

  private async fetchSchema(id: number): Promise<void> {
    try {
      this.schemas.set(id, (await this.client.getSchema(id)) as WireSchema);
      this.unknownIds.delete(id);
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status === 404) {
        this.unknownIds.set(id, { reason: describeRegistryError(error), at: Date.now() });
        return;
      }
      // Not the record's fault: the batch fails and is retried, nothing goes to the dead-letter topic.
      throw new Error(`schema registry ${this.options.url}: cannot fetch schema id ${id}: ${describeRegistryError(error)}`, { cause: error });
    }
  }

  decode(bytes: Buffer | null, where: RecordCoordinates): unknown {
    if (bytes === null) return null;
    if (bytes.length < HEADER || bytes[0] !== MAGIC) {
      throw new DecodeError(
        `record ${at(where)} is not in the schema registry wire format (${bytes.length < HEADER ? `${bytes.length} bytes` : `magic byte ${bytes[0]}, expected 0`}); serde ${this.name}`,
      );
    }
    const id = bytes.readInt32BE(1);
    const schema = this.schemas.get(id);
    if (!schema) {
      const unknown = this.unknownIds.get(id);
      if (unknown) throw new DecodeError(`record ${at(where)}: unknown schema id ${id}: the registry at ${this.options.url} has no such schema (${unknown.reason})`);
      // Not prepared (a worker that does not call prepare()): fetch it now, in the background, and fail
      // this attempt with a retryable error; the worker's retry of the batch then finds the schema (or
      // knows the id is unknown, and the record goes to the dead-letter topic).
      void this.prepare([bytes]).catch(() => {});
      throw new SchemaNotReadyError(id, where);
    }
    let payload = bytes.subarray(HEADER);
    if (this.options.format === 'protobuf') {
      const { indexes, rest } = readMessageIndexes(payload, where);
      if (indexes.join('.') !== (this.messageIndexes.length > 0 ? this.messageIndexes : [0]).join('.')) {
        throw new DecodeError(`record ${at(where)}: protobuf message index path [${indexes.join(', ')}] is not the message type this serde reads (${this.options.messageName ?? 'the first'})`);
      }
      payload = rest;
    }
    try {
      const value = schema.fromBuffer(payload);
      return toPlain(value);
    } catch (error) {
      throw new DecodeError(`record ${at(where)} does not decode with its writer schema id ${id} (${this.options.format}): ${describeValidation(error)}`, { cause: error });
    }
  }

  /** Decodes one value, fetching its schema first. */
  async decodeAsync(bytes: Buffer | null, where: RecordCoordinates): Promise<unknown> {
    await this.prepare([bytes]);
    return this.decode(bytes, where);
  }

  encode(value: unknown): Buffer | null {
    if (value === null || value === undefined) return null;
    if (!this.writer) {
      throw new ConfigError(`serde ${this.name} has no writer schema: create it with a schema file or forEncoding`);
    }
    const { id, schema } = this.writer;
    let payload: Buffer;
    try {
      payload = schema.toBuffer(value as object);
    } catch (error) {
      const paths: string[] = [];
      try {
        schema.isValid(value as object, { errorHook: (path) => paths.push(path.join('.') || '(root)') });
      } catch {
        // isValid may throw on values of a wholly different shape; the first error says enough.
      }
      throw new HandlerContractError(
        `output does not fit ${this.options.format} schema id ${id} of subject '${this.options.subject}'${paths.length > 0 ? ` at ${paths.join(', ')}` : ''}: ${describeValidation(error)}`,
        { cause: error },
      );
    }
    const header = Buffer.alloc(HEADER);
    header.writeUInt8(MAGIC, 0);
    header.writeInt32BE(id, 1);
    return this.options.format === 'protobuf'
      ? Buffer.concat([header, writeMessageIndexes(this.messageIndexes.length > 0 ? this.messageIndexes : [0]), payload])
      : Buffer.concat([header, payload]);
  }
}

/** A record's schema is being fetched: retryable, the worker retries the batch after its backoff. */
export class SchemaNotReadyError extends Error {
  override readonly name = 'SchemaNotReadyError';
  readonly retryable = true;
  constructor(
    readonly schemaId: number,
    where: RecordCoordinates,
  ) {
    super(`record ${at(where)}: schema id ${schemaId} is being fetched from the registry; retry the batch (or call prepare() first)`);
  }
}

async function registryClient(options: RegistrySerdeOptions): Promise<SchemaRegistry> {
  const { SchemaRegistry } = await import('@kafkajs/confluent-schema-registry');
  return new SchemaRegistry(
    { host: options.url, ...(options.auth ? { auth: { username: options.auth.username, password: options.auth.password } } : {}) },
    options.messageName ? { PROTOBUF: { messageName: options.messageName } } : undefined,
  );
}

export function createRegistrySerde(options: RegistrySerdeOptions): Promise<RegistrySerde> {
  return RegistrySerde.create(options);
}

/**
 * Registers a schema under a subject through the REST API (POST /subjects/{s}/versions), and
 * lets the registry apply the subject's compatibility rule. Registering the same schema again
 * gives the same id.
 */
export async function registerSchema(url: string, subject: string, type: SchemaTypeName, schema: string, auth?: RegistryAuth): Promise<number> {
  const response = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json', Accept: 'application/vnd.schemaregistry.v1+json', ...basicAuthHeaders(auth) },
    body: JSON.stringify(type === 'AVRO' ? { schema } : { schema, schemaType: type }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await response.json().catch(() => ({}))) as { id?: number; message?: string; error_code?: number };
  if (!response.ok || typeof body.id !== 'number') {
    throw Object.assign(new Error(`${response.status}${body.error_code ? ` (${body.error_code})` : ''}: ${body.message ?? response.statusText}`), {
      status: response.status,
    });
  }
  return body.id;
}

async function getJson(url: string, auth?: RegistryAuth): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { headers: { Accept: 'application/vnd.schemaregistry.v1+json', ...basicAuthHeaders(auth) }, signal: AbortSignal.timeout(30_000) });
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok && response.status !== 404) throw new Error(`GET ${url}: ${response.status} ${JSON.stringify(body)}`);
  return { status: response.status, body };
}

function describeRegistryError(error: unknown): string {
  const status = (error as { status?: number }).status;
  const message = errorMessage(error);
  return status !== undefined && !message.startsWith(String(status)) ? `${status}: ${message}` : message;
}

function describeValidation(error: unknown): string {
  const paths = (error as { paths?: unknown }).paths;
  const message = errorMessage(error);
  return Array.isArray(paths) && paths.length > 0 ? `${message} (${JSON.stringify(paths)})` : message;
}

/** Protobuf messages decode to protobufjs Message objects: hand handlers plain values. */
function toPlain(value: unknown): unknown {
  const candidate = value as { toJSON?: unknown; $type?: unknown } | null;
  if (candidate !== null && typeof candidate === 'object' && typeof candidate.toJSON === 'function' && candidate.$type !== undefined) {
    return (candidate.toJSON as () => unknown).call(candidate);
  }
  return value;
}

// --- Protobuf message indexes (Confluent wire format) ---

/** The index path of a top-level message type of a .proto text; [] means "the first". Nested types are not supported. */
export function protobufMessageIndexes(schema: string | undefined, messageName: string | undefined): number[] {
  if (messageName === undefined || schema === undefined) return [];
  const name = messageName.split('.').pop() ?? messageName;
  const text = schema.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, '');
  const topLevel: string[] = [];
  let depth = 0;
  const tokens = text.match(/[{}]|\bmessage\s+[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
  for (const token of tokens) {
    if (token === '{') depth++;
    else if (token === '}') depth--;
    else if (depth === 0) topLevel.push(token.replace(/^message\s+/, ''));
  }
  const index = topLevel.indexOf(name);
  if (index < 0) throw new ConfigError(`protobuf message '${messageName}' is not a top-level message of the schema (top-level: ${topLevel.join(', ') || 'none'})`);
  return [index];
}

function zigzag(value: number): number {
  return (value << 1) ^ (value >> 31);
}

function writeVarint(value: number, out: number[]): void {
  let rest = value >>> 0;
  while (rest > 0x7f) {
    out.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  out.push(rest);
}

export function writeMessageIndexes(indexes: readonly number[]): Buffer {
  if (indexes.length === 1 && indexes[0] === 0) return Buffer.from([0]);
  const out: number[] = [];
  writeVarint(zigzag(indexes.length), out);
  for (const index of indexes) writeVarint(zigzag(index), out);
  return Buffer.from(out);
}

export function readMessageIndexes(buffer: Buffer, where: RecordCoordinates): { indexes: number[]; rest: Buffer } {
  let offset = 0;
  const readVarint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = buffer[offset++];
      if (byte === undefined || shift > 28) throw new DecodeError(`record ${at(where)}: truncated protobuf message indexes`);
      result |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) break;
      shift += 7;
    }
    return (result >>> 1) ^ -(result & 1);
  };
  const count = readVarint();
  if (count === 0) return { indexes: [0], rest: buffer.subarray(offset) };
  if (count < 0 || count > 100) throw new DecodeError(`record ${at(where)}: invalid protobuf message index count ${count}`);
  const indexes = Array.from({ length: count }, readVarint);
  return { indexes, rest: buffer.subarray(offset) };
}
