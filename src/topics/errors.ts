import type { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import type { PathSegment } from '../util/yaml-locator.js';

export { formatPath, type PathSegment, SourceLocator } from '../util/yaml-locator.js';

/** One problem in a topics file: where (file, line, column, path) and what (what is wrong, what is accepted). */
export interface Problem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** `pipelines[0].handler.module`; empty for the file as a whole. */
  readonly path: string;
  readonly message: string;
}

export function formatProblem(problem: Problem): string {
  return `${problem.file}:${problem.line}:${problem.column}${problem.path ? ` ${problem.path}` : ''}: ${problem.message}`;
}

/** Every problem of every file at once; the CLI prints them one a line. */
export class TopicsValidationError extends ConfigError {
  constructor(readonly problems: readonly Problem[]) {
    const sorted = [...problems].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
    super(
      `${sorted.length} problem${sorted.length === 1 ? '' : 's'} in the topics files:\n${sorted.map((problem) => `  ${formatProblem(problem)}`).join('\n')}`,
    );
  }
}

// --- Describing zod issues: what is wrong and what is accepted ---

interface SchemaDef {
  readonly type: string;
  readonly shape?: Record<string, z.core.$ZodType>;
  readonly element?: z.core.$ZodType;
  readonly valueType?: z.core.$ZodType;
  readonly innerType?: z.core.$ZodType;
  readonly in?: z.core.$ZodType;
  readonly out?: z.core.$ZodType;
  readonly options?: readonly z.core.$ZodType[];
}

const defOf = (schema: z.core.$ZodType): SchemaDef => schema._zod.def as unknown as SchemaDef;

/** The object-like schemas at a place (several for unions), wrappers removed. */
function schemasAt(schema: z.core.$ZodType, path: readonly PathSegment[]): z.core.$ZodType[] {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      return def.innerType ? schemasAt(def.innerType, path) : [];
    case 'pipe':
      return def.out && defOf(def.out).type !== 'transform' ? schemasAt(def.out, path) : def.in ? schemasAt(def.in, path) : [];
    case 'union':
      return (def.options ?? []).flatMap((option) => schemasAt(option, path));
  }
  if (path.length === 0) return [schema];
  const [head, ...rest] = path;
  if (def.type === 'object' && typeof head === 'string' && def.shape?.[head]) return schemasAt(def.shape[head], rest);
  if (def.type === 'array' && def.element) return schemasAt(def.element, rest);
  if (def.type === 'record' && def.valueType) return schemasAt(def.valueType, rest);
  return [];
}

/** The keys an object at path accepts (all variants of a union together). */
export function acceptedKeys(schema: z.core.$ZodType, path: readonly PathSegment[]): string[] {
  const keys = new Set<string>();
  for (const candidate of schemasAt(schema, path)) {
    const def = defOf(candidate);
    if (def.type === 'object') for (const key of Object.keys(def.shape ?? {})) keys.add(key);
  }
  return [...keys];
}

function describeInput(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) {
    const text = JSON.stringify(input);
    return text.length <= 40 ? `a list (${text})` : 'a list';
  }
  if (typeof input === 'object') return 'a mapping';
  if (typeof input === 'string') return `'${input}' (a string)`;
  return `${String(input)} (a ${typeof input})`;
}

const TYPE_NAMES: Record<string, string> = { object: 'a mapping', array: 'a list', int: 'a whole number', record: 'a mapping' };
const article = (type: string) => TYPE_NAMES[type] ?? `a ${type}`;

function orList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

export interface DescribedIssue {
  readonly path: PathSegment[];
  /** Locate this key inside the value at path (unknown keys). */
  readonly key?: string;
  readonly message: string;
}

export function describeIssue(issue: z.core.$ZodIssue, schema: z.core.$ZodType): DescribedIssue[] {
  const path = issue.path.filter((segment): segment is PathSegment => typeof segment !== 'symbol');
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return [{ path, message: `is required (${article(issue.expected)})` }];
      return [{ path, message: `expected ${article(issue.expected)}, got ${describeInput(input)}` }];
    case 'unrecognized_keys': {
      const accepted = acceptedKeys(schema, path);
      return issue.keys.map((key) => ({
        path,
        key,
        message: `unknown key '${key}' (accepted: ${accepted.join(', ')})`,
      }));
    }
    case 'invalid_value':
      return [{ path, message: `got ${describeInput(input)}; accepted: ${issue.values.map((value) => String(value)).join(', ')}` }];
    case 'invalid_union': {
      const discriminator = (issue as { discriminator?: string; options?: unknown[] }).discriminator;
      if (discriminator !== undefined) {
        const options = (issue as { options?: unknown[] }).options ?? [];
        const value = typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[discriminator] : undefined;
        return [
          {
            path,
            message: `${value === undefined ? 'is required' : `got ${describeInput(value)}`}; accepted: ${options.map(String).join(', ')}`,
          },
        ];
      }
      const expected = new Set<string>();
      for (const [first] of issue.errors) {
        if (first?.code !== 'invalid_type') continue;
        if (first.path.length === 0) expected.add(article(first.expected));
        else if (typeof first.path[0] === 'number') expected.add(`a list of ${first.expected}s`);
      }
      return [{ path, message: `got ${describeInput(input)}; accepted: ${orList([...expected]) || 'one of the documented forms'}` }];
    }
    case 'too_small': {
      const minimum = Number(issue.minimum);
      if (issue.origin === 'array') return [{ path, message: `must hold at least ${minimum} item${minimum === 1 ? '' : 's'}` }];
      if (issue.origin === 'string') return [{ path, message: minimum <= 1 ? 'must not be empty' : `must be at least ${minimum} characters` }];
      return [{ path, message: `got ${String(input)}; accepted: ${issue.inclusive === false ? 'more than' : 'at least'} ${minimum}` }];
    }
    case 'too_big': {
      const maximum = Number(issue.maximum);
      return [{ path, message: `got ${describeInput(input)}; accepted: ${issue.inclusive === false ? 'less than' : 'at most'} ${maximum}` }];
    }
    case 'invalid_format':
      return [{ path, message: `got ${describeInput(input)}; accepted: ${issue.message}` }];
    case 'invalid_key': {
      const key = path[path.length - 1];
      const message = issue.issues.map((nested) => nested.message).join('; ');
      return [{ path: path.slice(0, -1), key: key === undefined ? undefined : String(key), message }];
    }
    case 'custom': {
      // A custom issue on a key of a record points at that key.
      return [{ path, message: issue.message }];
    }
    default:
      return [{ path, message: issue.message }];
  }
}
