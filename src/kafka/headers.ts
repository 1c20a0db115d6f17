import type { IHeaders } from 'kafkajs';

/** One header's value as text; a repeated header counts by its last value. */
export function headerText(value: IHeaders[string] | undefined): string | undefined {
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return last === undefined ? undefined : last.toString();
}

/** Every header as text (the last value of a repeated one). */
export function headersAsText(headers: IHeaders | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const text = headerText(value);
    if (text !== undefined) result[name] = text;
  }
  return result;
}
