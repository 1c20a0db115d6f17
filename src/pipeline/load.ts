import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PipelineFileConfig } from '../config/schema.js';
import { ConfigError } from '../errors/index.js';
import type { PipelineDefinition } from './definition.js';
import { defineHandler, type Handler } from './records.js';

/** Turns pipelines from a config file into definitions by importing their handler modules. */
export async function loadPipelines(
  configs: readonly PipelineFileConfig[],
  baseDir: string,
  only: readonly string[],
): Promise<PipelineDefinition[]> {
  const unknown = only.filter((name) => !configs.some((config) => config.name === name));
  if (unknown.length > 0) {
    throw new ConfigError(
      `--pipeline names unknown pipelines: ${unknown.join(', ')} (defined: ${configs.map((c) => c.name).join(', ') || 'none'})`,
    );
  }
  const selected = only.length > 0 ? configs.filter((config) => only.includes(config.name)) : configs;
  return Promise.all(
    selected.map(async (config) => ({
      name: config.name,
      input: config.input,
      output: config.output,
      outputs: config.outputs,
      handlerTimeoutMs: config.handlerTimeoutMs,
      concurrency: config.concurrency,
      groupId: config.groupId,
      deadLetterTopic: config.deadLetterTopic,
      serde: config.serde,
      commit: config.commit,
      errors: config.errors,
      // A password file is relative to the config file's folder, like the handler module.
      ...(config.sink
        ? { sink: { postgres: { ...config.sink.postgres, ...(config.sink.postgres.passwordFile ? { passwordFile: resolve(baseDir, config.sink.postgres.passwordFile) } : {}) } } }
        : {}),
      handler: await importHandler(config, baseDir),
    })),
  );
}

async function importHandler(config: PipelineFileConfig, baseDir: string): Promise<Handler> {
  const where = `pipeline '${config.name}' handler`;
  const file = resolve(baseDir, config.handler.module);
  if (!existsSync(file)) throw new ConfigError(`module ${file} does not exist`, where);
  let module: Record<string, unknown>;
  try {
    if (/\.(c|m)?ts$/.test(file)) await enableTypeScriptModules();
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`module ${file} failed to load: ${(error as Error).message}`, where);
  }
  const exported = module[config.handler.export];
  if (typeof exported === 'function') return defineHandler({ handle: exported as never });
  if (isHandler(exported)) return exported;
  const available = Object.keys(module).join(', ') || 'none';
  throw new ConfigError(
    `export '${config.handler.export}' of ${file} is not a handler (use defineHandler, or export a function); exports: ${available}`,
    where,
  );
}

let typeScriptEnabled: Promise<void> | undefined;

/** Handler modules may be TypeScript even when txstream itself runs compiled: tsx loads them. */
function enableTypeScriptModules(): Promise<void> {
  typeScriptEnabled ??= import('tsx/esm/api').then(({ register }) => {
    register();
  });
  return typeScriptEnabled;
}

function isHandler(value: unknown): value is Handler {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { kind?: unknown; handle?: unknown; handleBatch?: unknown };
  return (
    (candidate.kind === 'record' && typeof candidate.handle === 'function') ||
    (candidate.kind === 'batch' && typeof candidate.handleBatch === 'function')
  );
}
