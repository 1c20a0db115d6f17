import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULTS } from './defaults.js';
import { ConfigError } from '../errors/index.js';
import { withoutUndefined } from '../util/objects.js';

/** A table name: an identifier, optionally schema-qualified, quoted by txstream (never interpolated as given). */
const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;
const tableName = z.string().regex(TABLE_NAME, 'a table name: letters, digits and "_", optionally "schema.table", at most 63 characters each');

/**
 * `sink.postgres` of a pipeline in a config or topics file. The password is never in the file:
 * it comes from `passwordFile` (a mounted secret), the URL, or PostgreSQL's own PGPASSWORD.
 */
export const postgresSinkFileSchema = z
  .object({
    /** postgres://user@host:port/database (libpq URL); or host/port/database/user below. */
    url: z.string().min(1).optional(),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65_535).optional(),
    database: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    /** A file holding the password (relative to the file's folder); default: the URL's, or PGPASSWORD. */
    passwordFile: z.string().min(1).optional(),
    /** Connections per pipeline; each partition with an open transaction holds one. */
    poolSize: z.number().int().min(1).max(1000).optional(),
    /** Where the input offsets and owner epochs live (created when missing). */
    offsetsTable: tableName.optional(),
    /** Where ctx.once records processed ids (created when missing). */
    onceTable: tableName.optional(),
  })
  .strict()
  .superRefine((sink, ctx) => {
    if (sink.url === undefined && sink.host === undefined) {
      ctx.addIssue({ code: 'custom', message: 'needs a connection: url (postgres://user@host:port/database) or host (with port, database, user)' });
    }
    if (sink.url !== undefined && [sink.host, sink.port, sink.database, sink.user].some((value) => value !== undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give url or host/port/database/user, not both' });
    }
    if (sink.url !== undefined && !/^postgres(ql)?:\/\//.test(sink.url)) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'a PostgreSQL URL starts with postgres:// or postgresql://' });
    }
  });

export const sinkFileSchema = z.object({ postgres: postgresSinkFileSchema }).strict();

export type PostgresSinkFileConfig = z.output<typeof postgresSinkFileSchema>;

/** A pipeline's PostgreSQL sink, in code. */
export interface PostgresSinkOptions {
  readonly url?: string;
  readonly host?: string;
  readonly port?: number;
  readonly database?: string;
  readonly user?: string;
  /** In code only; files use passwordFile or PGPASSWORD. */
  readonly password?: string;
  readonly passwordFile?: string;
  readonly poolSize?: number;
  readonly offsetsTable?: string;
  readonly onceTable?: string;
}

export interface SinkDefinition {
  readonly postgres: PostgresSinkOptions;
}

/** The sink as the worker runs it: defaults filled in, the password file read. */
export interface ResolvedPostgresSink {
  readonly connection: {
    readonly connectionString?: string;
    readonly host?: string;
    readonly port?: number;
    readonly database?: string;
    readonly user?: string;
    readonly password?: string;
  };
  readonly poolSize: number;
  readonly offsetsTable: string;
  readonly onceTable: string;
  /** The connection without its password, for messages and logs. */
  readonly where: string;
}

export function resolvePostgresSink(pipeline: string, sink: PostgresSinkOptions): ResolvedPostgresSink {
  const source = `pipeline '${pipeline}' sink.postgres`;
  const { password: _inCodeOnly, ...checked } = sink;
  const parsed = postgresSinkFileSchema.safeParse(checked);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || 'sink.postgres'}: ${issue.message}`).join('; '), source);
  let password = sink.password;
  if (sink.passwordFile !== undefined) {
    try {
      password = readFileSync(sink.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new ConfigError(`passwordFile ${sink.passwordFile} cannot be read: ${(error as Error).message}`, source);
    }
  }
  return {
    connection: withoutUndefined({ connectionString: sink.url, host: sink.host, port: sink.port, database: sink.database, user: sink.user, password }),
    poolSize: sink.poolSize ?? DEFAULTS.sinkPoolSize,
    offsetsTable: sink.offsetsTable ?? DEFAULTS.sinkOffsetsTable,
    onceTable: sink.onceTable ?? DEFAULTS.sinkOnceTable,
    where: sink.url !== undefined ? redactUrl(sink.url) : `postgres://${sink.user ?? ''}@${sink.host}:${sink.port ?? 5432}/${sink.database ?? ''}`,
  };
}

/** `--postgres-url` (TXSTREAM_POSTGRES_URL): the connection of every sink pipeline, replacing what the files say. */
export function withPostgresUrl<P extends { readonly sink?: SinkDefinition }>(pipelines: readonly P[], url: string | undefined): P[] {
  if (url === undefined) return [...pipelines];
  return pipelines.map((pipeline) => {
    if (!pipeline.sink) return pipeline;
    const { url: _file, host: _host, port: _port, database: _database, user: _user, ...rest } = pipeline.sink.postgres;
    return { ...pipeline, sink: { postgres: { ...rest, url } } };
  });
}

/** The URL with its password replaced, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*):[^@]*@/, '$1:***@');
}
