import { loadSettings } from '../config/load.js';
import type { WorkerSettings } from '../config/schema.js';
import type { PipelineDefinition } from '../pipeline/definition.js';
import { loadTopicsDir, type TopicsProject } from './load.js';
import { assertRegistryUrl } from '../serde/registry-auth.js';
import { pipelinesOfProject } from './pipelines.js';

/** What `txstream run` needs when it runs the pipelines of a topics folder instead of one config file. */
export interface TopicsRun {
  readonly settings: WorkerSettings;
  readonly pipelines: PipelineDefinition[];
  readonly project: TopicsProject;
}

export interface TopicsRunSources {
  /** The topics folder (`topics` by default in the CLI). */
  readonly dir: string;
  /** Flag values by flag name (`batch-size`), as `flagsOf` gives them. */
  readonly flags?: Readonly<Record<string, string | undefined>>;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Loads every file of the folder (all problems at once), takes the worker settings they
 * carry (clientId, groupId, commit) as the config-file layer under env and flags, and
 * builds the pipelines (`--pipeline` picks some), their handlers and their serdes.
 * SCHEMA_REGISTRY_URL overrides the files' schemaRegistry.url.
 */
export async function loadTopicsRun(sources: TopicsRunSources): Promise<TopicsRun> {
  const env = sources.env ?? {};
  const project = loadTopicsDir(sources.dir);
  // The files' worker settings are the config-file layer: flags and env win over them, as over a -c file.
  const { settings } = loadSettings({ flags: sources.flags, env, fileLayer: { values: project.settings.worker, origin: sources.dir } });
  const schemaRegistryUrl = env.SCHEMA_REGISTRY_URL || undefined;
  if (schemaRegistryUrl !== undefined) assertRegistryUrl(schemaRegistryUrl, 'env SCHEMA_REGISTRY_URL');
  const schemaRegistryAuth = env.SCHEMA_REGISTRY_USERNAME
    ? { username: env.SCHEMA_REGISTRY_USERNAME, password: env.SCHEMA_REGISTRY_PASSWORD || undefined, passwordFile: env.SCHEMA_REGISTRY_PASSWORD_FILE || undefined }
    : undefined;
  const pipelines = await pipelinesOfProject(project, { only: settings.only, schemaRegistryUrl, schemaRegistryAuth });
  return { settings, pipelines, project };
}
