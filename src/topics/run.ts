import { loadSettings } from '../config/load.js';
import { commitSettingsSchema, type WorkerSettings } from '../config/schema.js';
import { SETTINGS } from '../config/settings.js';
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
  const flags = sources.flags ?? {};
  const env = sources.env ?? {};
  const project = loadTopicsDir(sources.dir);
  const { settings } = loadSettings({ flags, env });
  const givenOutsideFiles = (path: readonly string[]) => {
    const spec = SETTINGS.find((candidate) => candidate.path.join('.') === path.join('.'));
    return spec !== undefined && (flags[spec.flag] !== undefined || spec.env.some((name) => env[name] !== undefined && env[name] !== ''));
  };
  const fromFiles = project.settings;
  const commit: Record<string, unknown> = { ...settings.commit };
  for (const [key, value] of Object.entries(fromFiles.commit ?? {})) {
    if (value !== undefined && !givenOutsideFiles(['commit', key])) commit[key] = value;
  }
  const merged: WorkerSettings = {
    ...settings,
    clientId: fromFiles.clientId !== undefined && !givenOutsideFiles(['clientId']) ? fromFiles.clientId : settings.clientId,
    groupId: fromFiles.groupId !== undefined && !givenOutsideFiles(['groupId']) ? fromFiles.groupId : settings.groupId,
    // Both layers were validated already; parsing again only gives the merged object its type.
    commit: commitSettingsSchema.parse(commit),
  };
  const schemaRegistryUrl = env.SCHEMA_REGISTRY_URL || undefined;
  if (schemaRegistryUrl !== undefined) assertRegistryUrl(schemaRegistryUrl, 'env SCHEMA_REGISTRY_URL');
  const schemaRegistryAuth = env.SCHEMA_REGISTRY_USERNAME
    ? { username: env.SCHEMA_REGISTRY_USERNAME, password: env.SCHEMA_REGISTRY_PASSWORD || undefined, passwordFile: env.SCHEMA_REGISTRY_PASSWORD_FILE || undefined }
    : undefined;
  const pipelines = await pipelinesOfProject(project, { only: merged.only, schemaRegistryUrl, schemaRegistryAuth });
  return { settings: merged, pipelines, project };
}
