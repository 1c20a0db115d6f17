import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, errorMessage } from '../errors/index.js';
import { DEFAULT_SETTINGS, type WorkerSettings, workerSettingsSchema } from './schema.js';
import { SETTINGS, type SettingSpec } from './settings.js';

export interface ConfigSources {
  /** Flag values by flag name (`batch-size`), as commander gives them. */
  readonly flags?: Readonly<Record<string, string | undefined>>;
  readonly env?: NodeJS.ProcessEnv;
  /** A YAML or JSON file; relative handler modules resolve against its folder. */
  readonly file?: string;
  /** Instead of a file: settings already read (a topics folder's), and where they came from. */
  readonly fileLayer?: { readonly values: Readonly<Record<string, unknown>>; readonly origin: string };
}

export interface LoadedSettings {
  readonly settings: WorkerSettings;
  /** Folder that relative paths in the config (handler modules) are relative to. */
  readonly baseDir: string;
}

type Layer = Record<string, unknown>;

/**
 * Merges defaults < file < environment < flags and validates the result. All
 * problems are reported at once, each naming where the bad value came from.
 */
export function loadSettings(sources: ConfigSources): LoadedSettings {
  const origins = new Map<string, string>();
  const problems: string[] = [];
  const env = sources.env ?? {};
  const fileLayer = sources.file ? readConfigFile(sources.file) : structuredClone(sources.fileLayer?.values ?? {});
  if (sources.file) recordOrigins(fileLayer, [], sources.file, origins);
  else if (sources.fileLayer) recordOrigins(fileLayer, [], sources.fileLayer.origin, origins);

  const envLayer: Layer = {};
  const flagLayer: Layer = {};
  for (const spec of SETTINGS) {
    const envName = spec.env.find((name) => env[name] !== undefined && env[name] !== '');
    if (envName) setFromText(envLayer, spec, env[envName] as string, `env ${envName}`, origins, problems);
    const flagValue = sources.flags?.[spec.flag];
    if (flagValue !== undefined) setFromText(flagLayer, spec, flagValue, `--${spec.flag}`, origins, problems);
  }

  const merged = [fileLayer, envLayer, flagLayer].reduce<Layer>(
    (acc, layer) => deepMerge(acc, layer),
    structuredClone(DEFAULT_SETTINGS) as Layer,
  );
  const parsed = workerSettingsSchema.safeParse(merged, { reportInput: true });
  if (!parsed.success) problems.push(...parsed.error.issues.map((issue) => describeIssue(issue, origins)));
  if (problems.length > 0 || !parsed.success) {
    throw new ConfigError(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  return { settings: parsed.data, baseDir: sources.file ? dirname(resolve(sources.file)) : process.cwd() };
}

function readConfigFile(file: string): Layer {
  const document = parseDocument(readConfigText(file), { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(`not valid YAML/JSON: ${document.errors.map((error) => error.message).join('; ')}`, file);
  }
  const value: unknown = document.toJS();
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError('must hold a mapping of settings at the top level', file);
  return value as Layer;
}

/** The file's text; a path that cannot be read as a file (missing, a folder, unreadable) is a config error, not a crash. */
function readConfigText(file: string): string {
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat) throw new ConfigError('config file not found', file);
  if (stat.isDirectory()) throw new ConfigError('is a folder; -c/--config takes a YAML or JSON file (a topics folder goes to --topics-dir)', file);
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the config file: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`, file);
  }
}

function setFromText(
  layer: Layer,
  spec: SettingSpec,
  text: string,
  origin: string,
  origins: Map<string, string>,
  problems: string[],
): void {
  let value: unknown = text.trim();
  if (spec.kind === 'int') {
    if (!/^\d+$/.test(text.trim())) {
      problems.push(`${origin}: '${text}' is not a whole number (${spec.description})`);
      return;
    }
    value = Number(text);
  } else if (spec.kind === 'list') {
    value = text
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean);
  }
  setPath(layer, spec.path, value);
  origins.set(spec.path.join('.'), origin);
}

function describeIssue(issue: z.core.$ZodIssue, origins: Map<string, string>): string {
  const path = issue.path.map(String);
  const key = path.join('.') || '(root)';
  let origin: string | undefined;
  for (let length = path.length; length >= 0 && !origin; length--) origin = origins.get(path.slice(0, length).join('.'));
  const spec = SETTINGS.find((candidate) => candidate.path.join('.') === key);
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    const where = spec
      ? `set --${spec.flag} or ${spec.env.join(' / ')}, or '${key}' in the config file`
      : `set '${key}' in the config file`;
    return `${key} is required: ${where}`;
  }
  const accepted = spec ? ` (${spec.description})` : '';
  return `${origin ? `${origin} → ` : ''}${key}: ${issue.message}${accepted}`;
}

function recordOrigins(value: unknown, path: string[], origin: string, origins: Map<string, string>): void {
  origins.set(path.join('.'), origin);
  if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) recordOrigins(child, [...path, key], origin, origins);
  }
}

function setPath(target: Layer, path: readonly string[], value: unknown): void {
  let node = target;
  path.forEach((key, index) => {
    if (index === path.length - 1) {
      node[key] = value;
      return;
    }
    node[key] ??= {};
    node = node[key] as Layer;
  });
}

function deepMerge(base: Layer, override: Layer): Layer {
  const result: Layer = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = result[key];
    result[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current as Layer, value as Layer) : value;
  }
  return result;
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}
