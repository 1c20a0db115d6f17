import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { resolveErrorPolicy, type ResolvedErrorPolicy } from '../config/error-policy.js';
import { pipelineProblems } from '../pipeline/checks.js';
import { deadLetterTopicOf, retryTopicOf } from '../pipeline/topic-names.js';
import { describeIssue, formatPath, type PathSegment, type Problem, SourceLocator, TopicsValidationError } from './errors.js';
import {
  configStrings,
  type DerivedTopicSettings,
  topicConfigValueProblem,
  REGISTRY_FORMATS,
  type SerdeSpec,
  type TopicsFile,
  topicsFileSchema,
  type TopicsPipeline,
} from './format.js';

/** A topic as the files want it in the cluster. */
export interface DesiredTopic {
  readonly name: string;
  readonly partitions: number;
  /** Absent: the broker's default, and never compared with the cluster. */
  readonly replicationFactor?: number;
  /** Exactly the topic-level configs the topic should have set (values as strings). */
  readonly configs: Readonly<Record<string, string>>;
  /** `topics/orders.yaml:4`, or `derived from pipeline 'x' (topics/orders.yaml:12)`. */
  readonly origin: string;
  /** The pipeline a retry or dead-letter topic was derived from. */
  readonly derivedFrom?: { readonly pipeline: string; readonly kind: 'retry' | 'dead-letter' };
}

export interface ProjectPipeline {
  readonly config: TopicsPipeline;
  readonly file: string;
  /** Folder relative handler modules and schema files resolve against. */
  readonly baseDir: string;
  readonly errors: ResolvedErrorPolicy;
  readonly inputs: readonly string[];
  /** Retry topics in attempt order (empty unless onError is retry). */
  readonly retryTopics: readonly string[];
  /** Dead-letter topic by input topic. */
  readonly deadLetterTopics: Readonly<Record<string, string>>;
}

/** The worker settings the files carry (any key of a config file; pipelines are the files' own), and the registry. */
export interface ProjectSettings {
  readonly worker: Readonly<Record<string, unknown>>;
  readonly schemaRegistryUrl?: string;
  readonly schemaRegistryUsername?: string;
  readonly schemaRegistryPassword?: string;
  readonly schemaRegistryPasswordFile?: string;
}

/** Settings whose values never appear in a message. */
const SECRET_SETTINGS = new Set(['schemaRegistryPassword']);

export interface TopicsProject {
  readonly files: readonly string[];
  readonly topics: readonly DesiredTopic[];
  readonly pipelines: readonly ProjectPipeline[];
  readonly settings: ProjectSettings;
}

export interface TopicsSource {
  /** Path as shown in messages (relative to the working directory when given so). */
  readonly file: string;
  readonly text: string;
}

/** The YAML files of a folder (*.yaml, *.yml), in name order. */
export function topicsFilesIn(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new TopicsValidationError([{ file: dir, line: 1, column: 1, path: '', message: 'no such folder (give the topics folder with --topics-dir)' }]);
  }
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/i.test(name))
    .sort()
    .map((name) => join(dir, name));
}

/** Loads and validates every YAML file of a folder; throws TopicsValidationError with every problem at once. */
export function loadTopicsDir(dir: string): TopicsProject {
  const files = topicsFilesIn(dir);
  if (files.length === 0) {
    throw new TopicsValidationError([{ file: dir, line: 1, column: 1, path: '', message: 'holds no .yaml or .yml files' }]);
  }
  return loadTopicsSources(files.map((file) => ({ file: displayPath(file), text: readFileSync(file, 'utf8') })));
}

function displayPath(file: string): string {
  const shown = relative(process.cwd(), file);
  return shown.startsWith('..') ? resolve(file) : shown;
}

interface ParsedFile {
  readonly file: string;
  readonly locator: SourceLocator;
  /** Undefined when the file did not pass the schema. */
  readonly data?: TopicsFile;
  /** The file as plain data, for lenient cross-file checks when it did not pass. */
  readonly raw: unknown;
}

export function loadTopicsSources(sources: readonly TopicsSource[]): TopicsProject {
  const problems: Problem[] = [];
  const parsed: ParsedFile[] = [];
  for (const source of sources) {
    const file = parseFile(source, problems);
    if (file) parsed.push(file);
  }
  const project = crossCheck(parsed, problems);
  if (problems.length > 0) throw new TopicsValidationError(problems);
  return { ...project, files: sources.map((source) => source.file) };
}

function parseFile(source: TopicsSource, problems: Problem[]): ParsedFile | undefined {
  const lineCounter = new LineCounter();
  const document = parseDocument(source.text, { lineCounter, keepSourceTokens: true, uniqueKeys: true, prettyErrors: false });
  if (document.errors.length > 0) {
    for (const error of document.errors) {
      const position = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
      const message = error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? error.message;
      problems.push({ file: source.file, line: position.line, column: position.col, path: '', message: `not valid YAML: ${message}` });
    }
    return undefined;
  }
  const locator = new SourceLocator(document, lineCounter);
  const raw: unknown = document.toJS() ?? {};
  const result = topicsFileSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    for (const issue of result.error.issues) {
      for (const described of describeIssue(issue, topicsFileSchema)) {
        const where = locator.locate(described.path, described.key);
        const path = described.key !== undefined ? [...described.path, described.key] : described.path;
        problems.push({ file: source.file, ...where, path: formatPath(path), message: described.message });
      }
    }
    return { file: source.file, locator, raw };
  }
  return { file: source.file, locator, raw, data: result.data };
}

interface Declared {
  readonly file: string;
  readonly line: number;
}

function crossCheck(files: readonly ParsedFile[], problems: Problem[]): Omit<TopicsProject, 'files'> {
  const problem = (file: ParsedFile, path: PathSegment[], message: string, key?: string) => {
    const where = file.locator.locate(path, key);
    problems.push({ file: file.file, ...where, path: formatPath(key === undefined ? path : [...path, key]), message });
  };

  /** Config values the broker would refuse, each at its key. */
  const checkValues = (file: ParsedFile, configs: unknown, path: PathSegment[]) => {
    for (const [name, value] of Object.entries(objectAt(configs) ?? {})) {
      const wrong = topicConfigValueProblem(name, value);
      if (wrong !== undefined) problem(file, [...path, name], wrong);
    }
  };

  // Declared topics, leniently from files that failed too, so one bad file does not cascade.
  const declared = new Map<string, Declared>();
  const topics = new Map<string, DesiredTopic>();
  for (const file of files) {
    const rawTopics = listAt(file.raw, 'topics');
    rawTopics.forEach((rawTopic, index) => {
      checkValues(file, objectAt(rawTopic)?.configs, ['topics', index, 'configs']);
      const name = stringAt(rawTopic, 'name');
      if (name === undefined) return;
      const { line } = file.locator.locate(['topics', index, 'name']);
      const first = declared.get(name);
      if (first) {
        problem(file, ['topics', index, 'name'], `topic '${name}' is declared twice (first at ${first.file}:${first.line}); declare each topic once`);
        return;
      }
      declared.set(name, { file: file.file, line });
      const topic = file.data?.topics?.[index];
      if (topic) {
        topics.set(name, {
          name,
          partitions: topic.partitions,
          replicationFactor: topic.replicationFactor,
          configs: configStrings(topic.configs),
          origin: `${file.file}:${line}`,
        });
      }
    });
  }

  // Pipelines: unique names, declared topics, existing handler modules and schema files.
  const pipelineNames = new Map<string, Declared>();
  const pipelines: ProjectPipeline[] = [];
  const derived = new Map<string, { topic: DesiredTopic }>();
  const notDeclared = (name: string) => `topic '${name}' is not declared under topics: in any file (${knownTopics(name, [...declared.keys()])})`;
  for (const file of files) {
    listAt(file.raw, 'pipelines').forEach((rawPipeline, index) => {
      const base: PathSegment[] = ['pipelines', index];
      const name = stringAt(rawPipeline, 'name');
      if (name !== undefined) {
        const { line } = file.locator.locate([...base, 'name']);
        const first = pipelineNames.get(name);
        if (first) problem(file, [...base, 'name'], `pipeline '${name}' is defined twice (first at ${first.file}:${first.line}); pipeline names must be unique`);
        else pipelineNames.set(name, { file: file.file, line });
      }
      // Reference checks read the raw file, so they run even where the schema found problems.
      const baseDir = dirname(resolve(file.file));
      for (const overrides of ['retryTopics', 'deadLetterTopics'] as const) {
        checkValues(file, objectAt(objectAt(rawPipeline)?.[overrides])?.configs, [...base, overrides, 'configs']);
      }
      // What the worker would refuse at start (an output it also reads), so validate passes only what run takes.
      for (const found of pipelineProblems(rawPipeline)) problem(file, [...base, ...found.path], found.message, found.key);
      const rawInput = objectAt(rawPipeline)?.input;
      const inputList: unknown[] = typeof rawInput === 'string' ? [rawInput] : Array.isArray(rawInput) ? rawInput : [];
      inputList.forEach((input, inputIndex) => {
        if (typeof input !== 'string' || input === '' || declared.has(input)) return;
        const path = typeof rawInput === 'string' ? [...base, 'input'] : [...base, 'input', inputIndex];
        problem(file, path, notDeclared(input));
      });
      const module = stringAt(objectAt(rawPipeline)?.handler, 'module');
      if (module !== undefined && module !== '' && !existsSync(resolve(baseDir, module))) {
        problem(file, [...base, 'handler', 'module'], `handler module '${module}' does not exist (looked for ${resolve(baseDir, module)}; paths are relative to the file's folder)`);
      }
      for (const side of ['input', 'output'] as const) {
        const schema = stringAt(objectAt(objectAt(rawPipeline)?.serde)?.[side], 'schema');
        if (schema !== undefined && schema !== '' && !existsSync(resolve(baseDir, schema))) {
          problem(file, [...base, 'serde', side, 'schema'], `schema file '${schema}' does not exist (looked for ${resolve(baseDir, schema)})`);
        }
      }
      const output = stringAt(rawPipeline, 'output');
      const checkOutput = () => {
        if (output !== undefined && output !== '' && !declared.has(output) && !derived.has(output)) {
          problem(file, [...base, 'output'], notDeclared(output));
        }
      };
      const config = file.data?.pipelines?.[index];
      if (!config) {
        checkOutput();
        return;
      }
      const inputs = typeof config.input === 'string' ? [config.input] : [...config.input];

      const errors = resolveErrorPolicy(config.errors);
      const retryTopics: string[] = [];
      const deadLetterTopics: Record<string, string> = {};
      const derive = (topicName: string, kind: 'retry' | 'dead-letter', from: string, overrides: DerivedTopicSettings | undefined) => {
        const source = topics.get(from);
        // An explicit declaration wins over the derived settings.
        if (!source || declared.has(topicName)) return;
        const overrideKey = kind === 'retry' ? 'retryTopics' : 'deadLetterTopics';
        const { line } = file.locator.locate(base);
        const topic: DesiredTopic = {
          name: topicName,
          partitions: overrides?.partitions ?? source.partitions,
          replicationFactor: overrides?.replicationFactor ?? source.replicationFactor,
          configs: { ...source.configs, ...configStrings(overrides?.configs) },
          origin: `derived from pipeline '${config.name}' (${file.file}:${line})`,
          derivedFrom: { pipeline: config.name, kind },
        };
        const previous = derived.get(topicName);
        if (previous && !sameSettings(previous.topic, topic)) {
          problem(
            file,
            config[overrideKey] ? [...base, overrideKey] : base,
            `derives topic '${topicName}' with settings (${settingsText(topic)}) that differ from those it is ${previous.topic.origin} with (${settingsText(previous.topic)}); make them agree or declare '${topicName}' under topics:`,
          );
          return;
        }
        if (!previous) derived.set(topicName, { topic });
      };
      for (const input of inputs) {
        if (errors.onError === 'retry') {
          for (let attempt = 1; attempt <= errors.attempts; attempt++) {
            const name = retryTopicOf(input, attempt);
            retryTopics.push(name);
            derive(name, 'retry', input, config.retryTopics);
          }
        }
        // Every input has one, whatever the policy: decode failures go there (and the worker checks it exists).
        const name = config.deadLetterTopic ?? deadLetterTopicOf(input);
        deadLetterTopics[input] = name;
        derive(name, 'dead-letter', input, config.deadLetterTopics);
      }
      checkOutput();
      pipelines.push({ config, file: file.file, baseDir, errors, inputs, retryTopics, deadLetterTopics });
    });
  }
  // An explicit declaration wins over a derived topic of the same name.
  for (const [name, entry] of derived) if (!topics.has(name) && !declared.has(name)) topics.set(name, entry.topic);

  return { topics: [...topics.values()], pipelines, settings: mergeSettings(files, problem) };
}

function mergeSettings(files: readonly ParsedFile[], problem: (file: ParsedFile, path: PathSegment[], message: string) => void): ProjectSettings {
  const chosen = new Map<string, { value: string; file: string }>();
  const worker: Record<string, unknown> = {};
  const registry: Record<string, string> = {};
  for (const file of files) {
    const data = file.data;
    if (!data) continue;
    const { topics: _topics, pipelines: _pipelines, schemaRegistry, ...settings } = data;
    const scalars: Array<[string, PathSegment[], unknown]> = [
      ...Object.entries(settings).map(([key, value]): [string, PathSegment[], unknown] => [key, [key], value]),
      ['schemaRegistryUrl', ['schemaRegistry', 'url'], schemaRegistry?.url],
      ['schemaRegistryUsername', ['schemaRegistry', 'username'], schemaRegistry?.username],
      ['schemaRegistryPassword', ['schemaRegistry', 'password'], schemaRegistry?.password],
      ['schemaRegistryPasswordFile', ['schemaRegistry', 'passwordFile'], schemaRegistry?.passwordFile],
    ];
    for (const [key, path, value] of scalars) {
      if (value === undefined) continue;
      const text = JSON.stringify(value);
      const previous = chosen.get(key);
      if (previous && previous.value !== text) {
        problem(
          file,
          path,
          SECRET_SETTINGS.has(key)
            ? `sets ${formatPath(path)} differently from ${previous.file}; worker settings must agree across files`
            : `sets ${formatPath(path)} to ${text}, but ${previous.file} sets it to ${previous.value}; worker settings must agree across files`,
        );
        continue;
      }
      chosen.set(key, { value: text, file: file.file });
      if (key.startsWith('schemaRegistry')) registry[key] = value as string;
      else worker[key] = value;
    }
  }
  return { worker, ...registry };
}

/** A near miss first (a typo), else the declared names (at most 10). */
function knownTopics(name: string, declared: readonly string[]): string {
  const close = declared
    .map((candidate) => ({ candidate, distance: editDistance(name, candidate) }))
    .filter(({ candidate, distance }) => distance <= Math.max(2, Math.floor(Math.min(name.length, candidate.length) / 4)))
    .sort((a, b) => a.distance - b.distance);
  if (close[0]) return `did you mean '${close[0].candidate}'?`;
  const sorted = [...declared].sort();
  if (sorted.length === 0) return 'no file declares any topic';
  return `declared: ${sorted.slice(0, 10).join(', ')}${sorted.length > 10 ? ` and ${sorted.length - 10} more` : ''}`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function sameSettings(a: DesiredTopic, b: DesiredTopic): boolean {
  return settingsText(a) === settingsText(b);
}

function settingsText(topic: DesiredTopic): string {
  const configs = Object.entries(topic.configs)
    .sort(([x], [y]) => x.localeCompare(y))
    .map(([name, value]) => `${name}=${value}`);
  return [`partitions ${topic.partitions}`, `replication factor ${topic.replicationFactor ?? 'default'}`, ...configs].join(', ');
}

function listAt(value: unknown, key: string): unknown[] {
  if (typeof value !== 'object' || value === null) return [];
  const list = (value as Record<string, unknown>)[key];
  return Array.isArray(list) ? list : [];
}

function objectAt(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function stringAt(value: unknown, key: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const found = (value as Record<string, unknown>)[key];
  return typeof found === 'string' ? found : undefined;
}

/** Registry formats a project uses, to know whether a registry URL is needed. */
export function usesRegistry(project: TopicsProject): boolean {
  return project.pipelines.some((pipeline) =>
    (['input', 'output'] as const).some((side) => {
      const spec = pipeline.config.serde?.[side] as SerdeSpec | undefined;
      return spec !== undefined && REGISTRY_FORMATS.includes(spec.format);
    }),
  );
}
