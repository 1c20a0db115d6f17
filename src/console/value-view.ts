/**
 * How the console shows a record's value: JSON pretty-printed, UTF-8 text as it is, anything else as hex;
 * a value longer than the limit is cut and its size given. The result is plain text: the page escapes it.
 */
export interface ValueView {
  readonly kind: 'json' | 'text' | 'hex' | 'null' | 'empty';
  readonly text: string;
  readonly bytes: number;
  /** True when only the first `limit` bytes are shown. */
  readonly cut: boolean;
}

export function viewValue(value: Buffer | null, limit: number): ValueView {
  if (value === null) return { kind: 'null', text: '(null: a tombstone or no value)', bytes: 0, cut: false };
  if (value.length === 0) return { kind: 'empty', text: '(empty)', bytes: 0, cut: false };
  const cut = value.length > limit;
  const shown = cut ? value.subarray(0, limit) : value;
  if (!isUtf8Text(shown, cut)) return { kind: 'hex', text: hexDump(shown), bytes: value.length, cut };
  const text = shown.toString('utf8');
  if (!cut) {
    const trimmed = text.trim();
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      try {
        return { kind: 'json', text: JSON.stringify(JSON.parse(trimmed), null, 2), bytes: value.length, cut };
      } catch {
        // Not JSON after all: shown as text.
      }
    }
  }
  return { kind: 'text', text, bytes: value.length, cut };
}

/** Valid UTF-8 without control characters other than tab and line ends (a value cut mid-character still counts). */
function isUtf8Text(bytes: Buffer, cut: boolean): boolean {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let text: string;
  try {
    text = decoder.decode(bytes, { stream: cut });
  } catch {
    return false;
  }
  // eslint-disable-next-line no-control-regex
  return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text);
}

/** 16 bytes a line: offset, hex, and the printable ASCII beside it. */
export function hexDump(bytes: Buffer): string {
  const lines: string[] = [];
  for (let at = 0; at < bytes.length; at += 16) {
    const row = bytes.subarray(at, at + 16);
    const hex = [...row].map((byte) => byte.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.')).join('');
    lines.push(`${at.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}
