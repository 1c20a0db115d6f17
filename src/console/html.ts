/**
 * HTML built with a tagged template that escapes every interpolation: `html\`<td>${value}</td>\`` shows the
 * value's characters, whatever they are (a dead letter's value or header may hold markup; it must never run).
 * Only an Html made by this template (or by `html.join`) goes in unescaped, so markup can only come from the
 * console's own templates. Attribute values must be quoted in the template ("${value}"): quotes are escaped too.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** The text with every character that means something in HTML (content or quoted attribute) escaped. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (character) => ENTITIES[character] as string);
}

/** What a template accepts: text and numbers escaped, Html as is, lists joined, nothing for null/undefined/false. */
export type Interpolated = Html | string | number | bigint | boolean | null | undefined | readonly Interpolated[];

function render(value: Interpolated): string {
  if (value instanceof Html) return value.text;
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return (value as readonly Interpolated[]).map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: readonly Interpolated[]): Html {
  let text = strings[0] ?? '';
  values.forEach((value, index) => {
    text += render(value) + (strings[index + 1] ?? '');
  });
  return new Html(text);
}

/** A value for an attribute that holds JSON (hx-headers, hx-vals): the JSON text, escaped like any other. */
export function jsonAttribute(value: unknown): string {
  return JSON.stringify(value);
}
