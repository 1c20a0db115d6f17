import type { IHeaders } from 'kafkajs';

/** One header's value as text; a repeated header counts by its last value. */
export function headerText(value: IHeaders[string] | undefined): string | undefined {
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return last === undefined ? undefined : last.toString();
}

/** Every header as text (the last value of a repeated one); a header named `__proto__` stays one (defined, not assigned). */
export function headersAsText(headers: IHeaders | undefined): Record<string, string> {
  const text: Record<string, string> = {};
  // Every fetched record's headers: one pass, no arrays (entries, flatMap, fromEntries showed in profiles).
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    const value = headerText(headers[name]);
    if (value === undefined) continue;
    if (name === '__proto__') Object.defineProperty(text, name, { value, enumerable: true, writable: true, configurable: true });
    else text[name] = value;
  }
  return text;
}
