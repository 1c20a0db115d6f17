import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

/** Where things are in a YAML file, so a problem found in its data can name its line (topics files, -c files). */

export type PathSegment = string | number;

export function formatPath(path: readonly PathSegment[]): string {
  return path.reduce<string>((text, segment) => (typeof segment === 'number' ? `${text}[${segment}]` : text ? `${text}.${segment}` : segment), '');
}

/** Finds where a path of a parsed YAML document is: the node itself, or its nearest existing ancestor. */
export class SourceLocator {
  constructor(
    private readonly document: Document,
    private readonly lines: LineCounter,
  ) {}

  /** Line and column (1-based) of the value at path, or of the key `key` inside it. */
  locate(path: readonly PathSegment[], key?: string): { line: number; column: number } {
    let node: unknown = this.document.contents;
    let offset = rangeStart(node) ?? 0;
    for (const segment of path) {
      const child = childNode(node, segment);
      if (child === undefined) break;
      node = child.value;
      offset = rangeStart(child.value) ?? child.keyStart ?? offset;
    }
    if (key !== undefined && isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === key);
      const start = pair ? rangeStart(pair.key) : undefined;
      if (start !== undefined) offset = start;
    }
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }
}

function rangeStart(node: unknown): number | undefined {
  return node && typeof node === 'object' && 'range' in node && Array.isArray(node.range) ? (node as Node).range?.[0] : undefined;
}

function childNode(node: unknown, segment: PathSegment): { value: unknown; keyStart?: number } | undefined {
  if (isMap(node)) {
    const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment));
    if (!pair) return undefined;
    return { value: pair.value ?? undefined, keyStart: rangeStart(pair.key) };
  }
  if (isSeq(node) && typeof segment === 'number') {
    const item: unknown = node.items[segment];
    return item === undefined ? undefined : { value: item };
  }
  return undefined;
}
