import { z } from 'zod';
import { errorPolicySchema } from '../config/error-policy.js';
import { commitSettingsSchema, pipelineFileSchema, workerSettingsFields } from '../config/schema.js';
import { registryUrlProblem } from '../serde/registry-auth.js';

/**
 * The format of `topics/*.yaml`: the topics a project owns and the pipelines that read
 * and write them, kept with the code and applied with `txstream topics plan|apply`.
 * Every file may hold any of the sections; the files of a folder are one project.
 */

/** Kafka's legal topic names (Topic.LEGAL_CHARS, at most 249 characters). */
export const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/** Topic-level configs of Kafka 3.x/4.x (org.apache.kafka.common.config.TopicConfig). */
export const TOPIC_CONFIG_NAMES = [
  'cleanup.policy',
  'compression.type',
  'compression.gzip.level',
  'compression.lz4.level',
  'compression.zstd.level',
  'delete.retention.ms',
  'file.delete.delay.ms',
  'flush.messages',
  'flush.ms',
  'follower.replication.throttled.replicas',
  'index.interval.bytes',
  'leader.replication.throttled.replicas',
  'local.retention.bytes',
  'local.retention.ms',
  'max.compaction.lag.ms',
  'max.message.bytes',
  'message.downconversion.enable',
  'message.format.version',
  'message.timestamp.after.max.ms',
  'message.timestamp.before.max.ms',
  'message.timestamp.difference.max.ms',
  'message.timestamp.type',
  'min.cleanable.dirty.ratio',
  'min.compaction.lag.ms',
  'min.insync.replicas',
  'preallocate',
  'remote.log.copy.disable',
  'remote.log.delete.on.disable',
  'remote.storage.enable',
  'retention.bytes',
  'retention.ms',
  'segment.bytes',
  'segment.index.bytes',
  'segment.jitter.ms',
  'segment.ms',
  'unclean.leader.election.enable',
] as const;

const KNOWN_CONFIGS = new Set<string>(TOPIC_CONFIG_NAMES);

/** What a config value is accepted as, or undefined when it is; `text` is the value as Kafka takes it. */
type ValueCheck = (text: string) => string | undefined;

const oneOf =
  (values: readonly string[]): ValueCheck =>
  (text) =>
    values.includes(text) ? undefined : values.join(', ');
const listOf =
  (values: readonly string[]): ValueCheck =>
  (text) =>
    text.split(',').every((item) => values.includes(item.trim())) ? undefined : `${values.join(', ')}, or several comma-separated (a list)`;
// Kafka's INT configs are 32-bit, its LONG ones 64-bit; big values come quoted, so compare as BigInt.
const whole =
  (min: bigint, bits: 32 | 64): ValueCheck =>
  (text) => {
    const max = bits === 32 ? 2n ** 31n - 1n : 2n ** 63n - 1n;
    return /^-?\d+$/.test(text) && BigInt(text) >= min && BigInt(text) <= max ? undefined : `a whole number from ${min} to ${max}`;
  };
const ratio: ValueCheck = (text) => (/^\d*\.?\d+$/.test(text) && Number(text) <= 1 ? undefined : 'a number from 0 to 1');
const bool: ValueCheck = (text) => (text === 'true' || text === 'false' ? undefined : 'true or false');

/**
 * The values Kafka (3.x and 4.x, TopicConfig and LogConfig) accepts for the topic configs set most, so that
 * `topics validate` refuses what the broker would, without one. The others are left to the broker, which
 * `topics apply` asks before changing anything.
 */
const CONFIG_VALUES: Readonly<Record<string, ValueCheck>> = {
  'cleanup.policy': listOf(['compact', 'delete']),
  'compression.type': oneOf(['uncompressed', 'zstd', 'lz4', 'snappy', 'gzip', 'producer']),
  'message.timestamp.type': oneOf(['CreateTime', 'LogAppendTime']),
  'retention.ms': whole(-1n, 64),
  'retention.bytes': whole(-(2n ** 63n), 64),
  'min.insync.replicas': whole(1n, 32),
  'max.message.bytes': whole(0n, 32),
  // Kafka 4 raises the floor to 1 MiB; a 3.x broker takes anything above a record's overhead.
  'segment.bytes': whole(14n, 32),
  'segment.ms': whole(1n, 64),
  'delete.retention.ms': whole(0n, 64),
  'min.compaction.lag.ms': whole(0n, 64),
  'max.compaction.lag.ms': whole(1n, 64),
  'min.cleanable.dirty.ratio': ratio,
  'unclean.leader.election.enable': bool,
  preallocate: bool,
};

/** What is wrong with a topic config's value (`got …; accepted: …`), or undefined when Kafka takes it (or it is not checked here). */
export function topicConfigValueProblem(name: string, value: unknown): string | undefined {
  const check = CONFIG_VALUES[name];
  const scalar = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
  const list = Array.isArray(value) && value.every((item) => typeof item === 'string');
  // A value of the wrong shape is the schema's to report.
  if (!check || !(scalar || list)) return undefined;
  // Past 2^53 the number read is not the one written; the schema asks to quote it.
  if (typeof value === 'number' && !Number.isSafeInteger(value) && Number.isInteger(value)) return undefined;
  const text = list ? value.join(',') : String(value);
  const accepted = check(text);
  return accepted === undefined ? undefined : `got ${typeof value === 'string' || list ? `'${text}'` : text}; accepted: ${accepted}`;
}

export const topicConfigsSchema = z.record(
  z.string().refine((name) => KNOWN_CONFIGS.has(name), {
    error: (issue) => `unknown topic config '${String(issue.input)}' (accepted: ${TOPIC_CONFIG_NAMES.join(', ')})`,
  }),
  z.union([
    z.string(),
    z.number().refine((value) => !Number.isInteger(value) || Number.isSafeInteger(value), {
      error: 'is above 2^53 and would lose precision: quote it ("9223372036854775807")',
    }),
    z.boolean(),
    // Kafka's list configs (cleanup.policy: [compact, delete]) are comma-separated.
    z.array(z.string()).min(1),
  ]),
);

const partitions = z.number().int().min(1).max(100_000);
const replicationFactor = z.number().int().min(1).max(32);

export const topicSchema = z
  .object({
    name: z.string().regex(TOPIC_NAME, 'a Kafka topic name: letters, digits, ".", "_" and "-", at most 249'),
    partitions,
    /** The broker's default.replication.factor when absent (and then never compared). */
    replicationFactor: replicationFactor.optional(),
    configs: topicConfigsSchema.optional(),
  })
  .strict();

/** Settings of derived retry or dead-letter topics; absent ones come from the (first) input topic. */
export const derivedTopicSettingsSchema = z
  .object({
    partitions: partitions.optional(),
    replicationFactor: replicationFactor.optional(),
    configs: topicConfigsSchema.optional(),
  })
  .strict();

export const SERDE_FORMATS = ['json', 'json-bigint', 'string', 'bytes', 'avro', 'json-schema', 'protobuf'] as const;
export type SerdeFormat = (typeof SERDE_FORMATS)[number];
export const REGISTRY_FORMATS: readonly SerdeFormat[] = ['avro', 'json-schema', 'protobuf'];

export const serdeSpecObjectSchema = z
  .object({
    format: z.enum(SERDE_FORMATS),
    /** Registry subject; default `<topic>-value` (TopicNameStrategy). Registry formats only. */
    subject: z.string().min(1).optional(),
    /** A schema file (.avsc, .json, .proto), relative to the YAML file, registered under the subject at start. */
    schema: z.string().min(1).optional(),
    /** Protobuf: the message type to encode, when the file has several. */
    messageName: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (REGISTRY_FORMATS.includes(spec.format)) return;
    for (const key of ['subject', 'schema', 'messageName'] as const) {
      if (spec[key] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [key], message: `'${key}' applies to ${REGISTRY_FORMATS.join(', ')} only, not to ${spec.format}` });
      }
    }
  });

/** `avro` is short for `{ format: avro }`. */
export const serdeSpecSchema = z.preprocess((value) => (typeof value === 'string' ? { format: value } : value), serdeSpecObjectSchema);

export const topicsPipelineSchema = pipelineFileSchema
  .extend({
    serde: z.object({ input: serdeSpecSchema.optional(), output: serdeSpecSchema.optional() }).strict().optional(),
    errors: errorPolicySchema.optional(),
    /** Overrides for the derived `<input>.retry.<n>` topics. */
    retryTopics: derivedTopicSettingsSchema.optional(),
    /** Overrides for the derived dead-letter topic(s). */
    deadLetterTopics: derivedTopicSettingsSchema.optional(),
  })
  .strict();

export const topicsFileSchema = z
  .object({
    /** Worker settings a file may carry (the demo's topics/txstream.yaml does); files must agree on them. */
    // Any worker setting of a config file (src/config/settings.ts has one row each); no defaults here,
    // so files that say nothing do not disagree with those that do.
    ...workerSettingsFields.omit({ pipelines: true }).partial().shape,
    only: z.array(z.string()).optional(),
    commit: commitSettingsSchema.partial().optional(),
    schemaRegistry: z
      .object({
        // Never quoted back: a URL may carry a secret (see registryUrlProblem).
        url: z.string().superRefine((url, ctx) => {
          const problem = registryUrlProblem(url);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
        /** HTTP basic auth user name. */
        username: z.string().min(1).optional(),
        /** Basic auth password; prefer passwordFile or SCHEMA_REGISTRY_PASSWORD, files end up in git. */
        password: z.string().min(1).optional(),
        /** A file holding the password (e.g. a mounted secret). */
        passwordFile: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    topics: z.array(topicSchema).optional(),
    pipelines: z.array(topicsPipelineSchema).optional(),
  })
  .strict();

export type TopicDeclaration = z.output<typeof topicSchema>;
export type DerivedTopicSettings = z.output<typeof derivedTopicSettingsSchema>;
export type SerdeSpec = z.output<typeof serdeSpecObjectSchema>;
export type TopicsPipeline = z.output<typeof topicsPipelineSchema>;
export type TopicsFile = z.output<typeof topicsFileSchema>;

/** Topic config values as Kafka takes them: strings. */
export function configStrings(configs: Readonly<Record<string, string | number | boolean | readonly string[]>> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(configs ?? {}).map(([name, value]) => [name, Array.isArray(value) ? value.join(',') : String(value)]));
}

/** The JSON Schema of the format, for editors (`# yaml-language-server: $schema=./schema.json`). */
export function topicsJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(topicsFileSchema, {
    io: 'input',
    unrepresentable: 'any',
    override: (context) => {
      // The preprocess of serde specs hides their shape: describe the short and the long form.
      const def = context.zodSchema._zod.def as { type: string; out?: unknown };
      const json = context.jsonSchema as Record<string, unknown>;
      if (def.type === 'pipe' && def.out === serdeSpecObjectSchema) {
        const { $schema: _ignored, ...longForm } = z.toJSONSchema(serdeSpecObjectSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
        for (const key of Object.keys(json)) delete json[key];
        json.anyOf = [{ type: 'string', enum: [...SERDE_FORMATS] }, longForm];
      }
      if (context.zodSchema === topicConfigsSchema) {
        // Completion for the config names editors know.
        for (const key of Object.keys(json)) delete json[key];
        json.type = 'object';
        json.properties = Object.fromEntries(
          TOPIC_CONFIG_NAMES.map((name) => [name, { anyOf: [{ type: ['string', 'number', 'boolean'] }, { type: 'array', items: { type: 'string' }, minItems: 1 }] }]),
        );
        json.additionalProperties = false;
      }
    },
  }) as Record<string, unknown>;
  delete schema.$schema;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'txstream topics and pipelines',
    description: 'A file of topics/*.yaml: topics, pipelines (with derived retry and dead-letter topics) and worker settings.',
    ...schema,
  };
}
