import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors/index.js';
import type { PipelineDefinition } from '../pipeline/definition.js';
import { loadPipelines } from '../pipeline/load.js';
import { BUILTIN_SERDES, type Serde } from '../serde/index.js';
import { createRegistrySerde, type RegistryFormat } from '../serde/registry.js';
import { type RegistryAuth, type RegistryAuthSources, registryAuthOf } from '../serde/registry-auth.js';
import type { SerdeSpec } from './format.js';
import type { ProjectPipeline, TopicsProject } from './load.js';

/** Turns the pipelines of a topics project into definitions the worker runs (`txstream run`). */

export interface ProjectPipelinesOptions {
  /** Names to run; all when empty. */
  readonly only?: readonly string[];
  /** Overrides the files' `schemaRegistry.url` (e.g. from SCHEMA_REGISTRY_URL). */
  readonly schemaRegistryUrl?: string;
  /** Overrides the files' schemaRegistry.username/password (SCHEMA_REGISTRY_USERNAME, _PASSWORD, _PASSWORD_FILE). */
  readonly schemaRegistryAuth?: RegistryAuthSources;
}

export async function pipelinesOfProject(project: TopicsProject, options: ProjectPipelinesOptions = {}): Promise<PipelineDefinition[]> {
  const only = options.only ?? [];
  const unknown = only.filter((name) => !project.pipelines.some((pipeline) => pipeline.config.name === name));
  if (unknown.length > 0) {
    throw new ConfigError(
      `--pipeline names unknown pipelines: ${unknown.join(', ')} (defined in ${project.files.join(', ')}: ${project.pipelines.map((p) => p.config.name).join(', ') || 'none'})`,
    );
  }
  const selected = only.length > 0 ? project.pipelines.filter((pipeline) => only.includes(pipeline.config.name)) : project.pipelines;
  const registryUrl = options.schemaRegistryUrl ?? project.settings.schemaRegistryUrl;
  const fromFiles = project.settings;
  const auth = registryAuthOf(
    options.schemaRegistryAuth?.username !== undefined
      ? options.schemaRegistryAuth
      : { username: fromFiles.schemaRegistryUsername, password: fromFiles.schemaRegistryPassword, passwordFile: fromFiles.schemaRegistryPasswordFile },
    options.schemaRegistryAuth?.username !== undefined ? 'SCHEMA_REGISTRY_USERNAME' : 'schemaRegistry in the topics files',
  );
  return Promise.all(
    selected.map(async (pipeline) => {
      const { serde, retryTopics: _retry, deadLetterTopics: _dlt, ...fileConfig } = pipeline.config;
      const [definition] = await loadPipelines([fileConfig], pipeline.baseDir, []);
      if (!definition) throw new ConfigError(`pipeline '${pipeline.config.name}' did not load`, pipeline.file);
      const input = await serdeFor(serde?.input as SerdeSpec | undefined, pipeline, 'input', registryUrl, auth);
      const output = await serdeFor(serde?.output as SerdeSpec | undefined, pipeline, 'output', registryUrl, auth);
      return { ...definition, serde: { input, output } };
    }),
  );
}

/** The serde a spec names: a built-in one, or a registry serde (schema registered or looked up now when encoding). */
export async function serdeFor(
  spec: SerdeSpec | undefined,
  pipeline: ProjectPipeline,
  side: 'input' | 'output',
  registryUrl: string | undefined,
  auth?: RegistryAuth,
): Promise<Serde> {
  const format = spec?.format ?? 'json';
  if (format === 'json' || format === 'json-bigint' || format === 'string' || format === 'bytes') return BUILTIN_SERDES[format] as Serde;
  const where = `pipeline '${pipeline.config.name}' serde.${side} (${pipeline.file})`;
  if (!registryUrl) throw new ConfigError(`${format} needs a schema registry: set schemaRegistry.url in a topics file or SCHEMA_REGISTRY_URL`, where);
  const topic = side === 'input' ? pipeline.inputs[0] : pipeline.config.output;
  if (spec?.subject === undefined && topic === undefined) {
    throw new ConfigError(`${format} output needs a subject, or an output topic to derive '<topic>-value' from`, where);
  }
  const schema = spec?.schema === undefined ? undefined : readFileSync(resolve(pipeline.baseDir, spec.schema), 'utf8');
  return createRegistrySerde({
    url: registryUrl,
    format: format as RegistryFormat,
    subject: spec?.subject ?? `${topic}-value`,
    schema,
    messageName: spec?.messageName,
    // Inputs decode by the id in each record; only outputs need the writer schema.
    forEncoding: side === 'output',
    auth,
  });
}
