import type { IHeaders } from 'kafkajs';

/** One header's value as text; a repeated header counts by its last value. */
export function headerText(value: IHeaders[string] | undefined): string | undefined {
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return last === undefined ? undefined : last.toString();
}

/** Every header as text (the last value of a repeated one); a header named `__proto__` stays one (fromEntries, not assignment). */
export function headersAsText(headers: IHeaders | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers ?? {}).flatMap(([name, value]) => {
      const text = headerText(value);
      return text === undefined ? [] : [[name, text]];
    }),
  );
}
