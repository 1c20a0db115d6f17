/** The k6-like core, part 3: the end-of-test summary text. */
import type { Metrics, ThresholdResult } from './metrics.js';

export function formatNumber(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return 'n/a';
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && abs < 0.01) return value.toExponential(2);
  if (Number.isInteger(value)) return String(value);
  return value.toFixed(abs >= 100 ? 1 : 2);
}

const TREND_KEYS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'];

/** One line per metric, dotted to a column, ✓/✗ in front of metrics that have thresholds. */
export function summaryText(
  metrics: Metrics,
  thresholds: readonly ThresholdResult[],
  header: { readonly title?: string; readonly lines?: readonly string[] } = {},
): string {
  const out: string[] = [];
  if (header.title) out.push(`  ${header.title}`, '');
  for (const line of header.lines ?? []) out.push(`     ${line}`);
  if (header.lines?.length) out.push('');
  const names = metrics.names().sort();
  const width = Math.max(30, ...names.map((name) => name.length + 4));
  for (const name of names) {
    const own = thresholds.filter((t) => t.metric === name);
    const mark = own.length === 0 ? ' ' : own.every((t) => t.ok) ? '✓' : '✗';
    const aggregate = metrics.aggregate(name);
    if (!aggregate) continue;
    let values: string;
    switch (metrics.typeOf(name)) {
      case 'counter':
        values = `${formatNumber(aggregate.count)}  ${formatNumber(aggregate.rate)}/s`;
        break;
      case 'rate':
        values = `${formatNumber((aggregate.rate ?? 0) * 100)}%  ✓ ${aggregate.passes}  ✗ ${aggregate.fails}`;
        break;
      case 'gauge':
        values = `${formatNumber(aggregate.value)}  min=${formatNumber(aggregate.min)} max=${formatNumber(aggregate.max)}`;
        break;
      default:
        values = TREND_KEYS.map((key) => `${key}=${formatNumber(aggregate[key])}`).join(' ');
    }
    out.push(`   ${mark} ${`${name}`.padEnd(width, '.')}: ${values}`);
  }
  if (thresholds.length > 0) {
    out.push('', '     THRESHOLDS', '');
    for (const t of thresholds) {
      const detail = t.error ?? `${t.metric} = ${formatNumber(t.actual)}`;
      out.push(`   ${t.ok ? '✓' : '✗'} ${t.metric} '${t.expression}'  (${detail})`);
    }
    const failed = thresholds.filter((t) => !t.ok).length;
    out.push('', failed === 0 ? `     all ${thresholds.length} thresholds passed` : `   ✗ ${failed} of ${thresholds.length} thresholds failed`);
  }
  return `${out.join('\n')}\n`;
}
