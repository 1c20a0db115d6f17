import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, errorMessage } from '../errors/index.js';
import { DEFAULT_SETTINGS, type WorkerSettings, workerSettingsFields, workerSettingsSchema } from './schema.js';
import { SETTINGS, type SettingSpec } from './settings.js';
import { formatPath, type PathSegment, SourceLocator } from '../util/yaml-locator.js';

export interface ConfigSources {
  /** Flag values by flag name (`batch-size`), as commander gives them. */
  readonly flags?: Readonly<Record<string, string | undefined>>;
  readonly env?: NodeJS.ProcessEnv;
  /** A YAML or JSON file; relative handler modules resolve against its folder. */
  readonly file?: string;
  /** Instead of a file: settings already read (a topics folder's), and where they came from. */
  readonly fileLayer?: { readonly values: Readonly<Record<string, unknown>>; readonly origin: string };
  /**
   * Checks of the file's data beyond the schema (its pipelines: src/pipeline/checks.ts), made even when the
   * schema fails, so that every problem is reported at once, each at its line.
   */
  readonly checkFile?: (data: unknown, baseDir: string) => readonly FileProblem[];
}

/** A problem a check found in the file: at the value at path, or at the key `key` inside it. */
export interface FileProblem {
  readonly path: readonly PathSegment[];
  readonly key?: string;
  readonly message: string;
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
  const located: Array<{ line: number; column: number; text: string }> = [];
  const env = sources.env ?? {};
  const baseDir = sources.file ? dirname(resolve(sources.file)) : process.cwd();
  const file = sources.file ? readConfigFile(sources.file) : undefined;
  const fileLayer = file ? file.values : structuredClone(sources.fileLayer?.values ?? {});
  if (sources.file) recordOrigins(fileLayer, [], sources.file, origins);
  else if (sources.fileLayer) recordOrigins(fileLayer, [], sources.fileLayer.origin, origins);
  /** A problem of the file, as `file:line:column path: message`, the way the topics files' problems read. */
  const inFile = (path: readonly PathSegment[], message: string, key?: string) => {
    if (!file || !sources.file) return;
    const { line, column } = file.locator.locate(path, key);
    const shown = formatPath(key === undefined ? path : [...path, key]);
    located.push({ line, column, text: `${sources.file}:${line}:${column}${shown ? ` ${shown}` : ''}: ${message}` });
  };

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
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const origin = originOf(issue.path.map(String), origins);
      const path = issue.path.filter((segment): segment is PathSegment => typeof segment !== 'symbol');
      const missing = issue.code === 'invalid_type' && issue.input === undefined;
      if (file && isFromFile(path, missing, issue.code === 'unrecognized_keys', origins, sources.file)) {
        // One problem per unknown key, at that key.
        if (issue.code === 'unrecognized_keys') for (const key of issue.keys) inFile(path, `unknown key '${key}'${acceptedKeysText(path)}`, key);
        else inFile(path, missing ? `is required (${TYPE_NAMES[issue.expected] ?? `a ${issue.expected}`})` : `${issue.message}${specText(path)}`);
      } else {
        problems.push(describeIssue(issue, origin));
      }
    }
  }
  if (file && sources.checkFile) for (const problem of sources.checkFile(file.values, baseDir)) inFile(problem.path, problem.message, problem.key);
  located.sort((a, b) => a.line - b.line || a.column - b.column);
  problems.push(...located.map((problem) => problem.text));
  if (problems.length > 0 || !parsed.success) {
    throw new ConfigError(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  return { settings: parsed.data, baseDir };
}

function readConfigFile(file: string): { values: Layer; locator: SourceLocator } {
  const lineCounter = new LineCounter();
  const document = parseDocument(readConfigText(file), { prettyErrors: true, lineCounter });
  if (document.errors.length > 0) {
    throw new ConfigError(`not valid YAML/JSON: ${document.errors.map((error) => error.message).join('; ')}`, file);
  }
  const value: unknown = document.toJS();
  const locator = new SourceLocator(document, lineCounter);
  if (value === null || value === undefined) return { values: {}, locator };
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError('must hold a mapping of settings at the top level', file);
  return { values: value as Layer, locator };
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
  } else if (spec.kind === 'boolean') {
    const word = text.trim().toLowerCase();
    if (!['true', 'false', '1', '0'].includes(word)) {
      problems.push(`${origin}: '${text}' is not true or false (${spec.description})`);
      return;
    }
    value = word === 'true' || word === '1';
  } else if (spec.kind === 'list') {
    value = text
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean);
  }
  setPath(layer, spec.path, value);
  origins.set(spec.path.join('.'), origin);
}

function originOf(path: readonly string[], origins: Map<string, string>): string | undefined {
  let origin: string | undefined;
  for (let length = path.length; length >= 0 && !origin; length--) origin = origins.get(path.slice(0, length).join('.'));
  return origin;
}

/**
 * Whether a problem is the file's, so it can be shown at its line: its value came from the file (nearest
 * origin below the top, as env and flags override parts), or it is missing from a mapping the file wrote,
 * or an unknown key of the file's top level. A setting missing at the top keeps saying where it may be set.
 */
function isFromFile(path: readonly PathSegment[], missing: boolean, unknownKeys: boolean, origins: Map<string, string>, file: string | undefined): boolean {
  const keys = path.map(String);
  const nearest = (length: number): string | undefined => {
    for (let at = length; at >= 1; at--) {
      const origin = origins.get(keys.slice(0, at).join('.'));
      if (origin !== undefined) return origin;
    }
    return undefined;
  };
  if (unknownKeys && keys.length === 0) return origins.get('') === file;
  return missing ? keys.length > 1 && nearest(keys.length - 1) === file : nearest(keys.length) === file;
}

const TYPE_NAMES: Record<string, string> = { object: 'a mapping', array: 'a list', int: 'a whole number' };

function specOf(path: readonly PathSegment[]): SettingSpec | undefined {
  const key = path.map(String).join('.');
  return SETTINGS.find((candidate) => candidate.path.join('.') === key);
}

/** What the setting is, after a message about its value. */
function specText(path: readonly PathSegment[]): string {
  const spec = specOf(path);
  return spec ? ` (${spec.description})` : '';
}

/** The keys accepted where an unknown one was found. */
function acceptedKeysText(path: readonly PathSegment[]): string {
  let schema: z.core.$ZodType | undefined = workerSettingsFields;
  for (const segment of path) schema = schema === undefined ? undefined : childSchema(schema, segment);
  const def = schema?._zod.def as { type?: string; shape?: Record<string, unknown> } | undefined;
  return def?.type === 'object' && def.shape ? ` (accepted: ${Object.keys(def.shape).join(', ')})` : '';
}

/** The schema of a field or item inside a schema, through optional, default and array wrappers. */
function childSchema(schema: z.core.$ZodType, segment: PathSegment): z.core.$ZodType | undefined {
  const def = schema._zod.def as { type: string; innerType?: z.core.$ZodType; element?: z.core.$ZodType; shape?: Record<string, z.core.$ZodType> };
  if (def.innerType) return childSchema(def.innerType, segment);
  if (def.type === 'array' && typeof segment === 'number') return def.element;
  if (def.type === 'object' && typeof segment === 'string') return def.shape?.[segment];
  return undefined;
}

function describeIssue(issue: z.core.$ZodIssue, origin: string | undefined): string {
  const path = issue.path.map(String);
  const key = path.join('.') || '(root)';
  const spec = specOf(path);
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
