/** The sweep's report: ratios, a Markdown table and an SVG chart of throughput against batch size. */

export interface CellSummary {
  readonly strategy: string;
  readonly batchSize: number;
  readonly workers: number;
  /** Median over rounds. */
  readonly recordsPerSecond: number;
  readonly roundsRecordsPerSecond: readonly number[];
  readonly commits: number;
  readonly recordsPerCommit: number;
  readonly cpuCores: number;
  readonly cpuMsPer1kRecords: number;
  readonly latency?: { readonly rate: number; readonly p50: number; readonly p95: number; readonly p99: number; readonly samples: number; readonly exactlyOnce: boolean };
  readonly audit: { readonly committed: number; readonly outputs: number; readonly deadLettered: number; readonly missing: number; readonly duplicates: number; readonly unexpected: number; readonly exactlyOnce: boolean;
    /** Up to 5 lineages (topic/partition/offset) per round that were missing or duplicated. */
    readonly examples?: { readonly missing: readonly string[]; readonly duplicated: readonly string[] } };
  /** Transactional cells must audit exactly-once; the others are reported. */
  readonly ok: boolean;
}

export interface BaselineSummary {
  readonly key: 'naive' | 'eachBatch' | 'producerCeiling' | 'consumerCeiling';
  readonly name: string;
  readonly recordsPerSecond: number;
  readonly detail?: string;
  readonly audit?: string;
}

export interface Ratios {
  readonly transactionalOverBatchAt500?: number;
  readonly transactionalBest?: { readonly batchSize: number; readonly recordsPerSecond: number };
  readonly transactionalBestOverNaive?: number;
  readonly transactionalBestOverCeiling?: number;
  readonly ceilingRecordsPerSecond?: number;
  readonly batchSizeAt90PercentOfPlateau?: number;
}

const find = (cells: readonly CellSummary[], strategy: string, batchSize: number, workers = 1) =>
  cells.find((cell) => cell.strategy === strategy && cell.batchSize === batchSize && cell.workers === workers);

/** The closing figures, for one worker (the issue's ratios). */
export function computeRatios(cells: readonly CellSummary[], baselines: readonly BaselineSummary[]): Ratios {
  const transactional = cells.filter((cell) => cell.strategy === 'transactional' && cell.workers === 1).sort((a, b) => a.batchSize - b.batchSize);
  const best = transactional.reduce<CellSummary | undefined>((top, cell) => (!top || cell.recordsPerSecond > top.recordsPerSecond ? cell : top), undefined);
  const at500 = find(cells, 'transactional', 500);
  const batch500 = find(cells, 'batch', 500);
  const naive = baselines.find((b) => b.key === 'naive');
  const ceilings = baselines.filter((b) => b.key === 'producerCeiling' || b.key === 'consumerCeiling').map((b) => b.recordsPerSecond);
  const ceiling = ceilings.length > 0 ? Math.min(...ceilings) : undefined;
  const plateau = best?.recordsPerSecond;
  const reaching = plateau === undefined ? undefined : transactional.find((cell) => cell.recordsPerSecond >= 0.9 * plateau);
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? undefined : Math.round((a / b) * 100) / 100);
  return {
    transactionalOverBatchAt500: ratio(at500?.recordsPerSecond, batch500?.recordsPerSecond),
    transactionalBest: best ? { batchSize: best.batchSize, recordsPerSecond: best.recordsPerSecond } : undefined,
    transactionalBestOverNaive: ratio(best?.recordsPerSecond, naive?.recordsPerSecond),
    transactionalBestOverCeiling: ratio(best?.recordsPerSecond, ceiling),
    ceilingRecordsPerSecond: ceiling,
    batchSizeAt90PercentOfPlateau: reaching?.batchSize,
  };
}

export interface ReportInput {
  readonly title: string;
  readonly when: string;
  readonly mode: string;
  readonly machine: { readonly cores: number; readonly cpuModel: string; readonly memoryGiB: number; readonly node: string; readonly platform: string };
  readonly broker: { readonly brokers: readonly string[]; readonly version: string };
  readonly settings: Record<string, unknown>;
  readonly cells: readonly CellSummary[];
  readonly baselines: readonly BaselineSummary[];
  readonly ratios: Ratios;
  readonly notes: readonly string[];
}

const fmt = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? '–' : value.toLocaleString('en-US', { maximumFractionDigits: 2 }));

export function markdownReport(input: ReportInput, chartFile?: string): string {
  const { machine, broker, ratios } = input;
  const lines = [
    `# ${input.title}`,
    '',
    `${input.when}, mode \`${input.mode}\`. Machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}. ` +
      `Broker: Apache Kafka ${broker.version} at ${broker.brokers.join(',')} (single node, on the same machine as the workers).`,
    '',
    `Settings: ${Object.entries(input.settings)
      .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('/') : String(value)}`)
      .join(', ')}.`,
    '',
    '## Figures',
    '',
    `| figure | value | target |`,
    `| --- | --- | --- |`,
    `| transactional / batch at batch 500 (1 worker) | ${fmt(ratios.transactionalOverBatchAt500)} | ≥ 0.8 |`,
    `| transactional at its best batch size (${ratios.transactionalBest?.batchSize ?? '–'}) / naive per-message transaction | ${fmt(ratios.transactionalBestOverNaive)}× | ≥ 50× |`,
    `| transactional best / broker ceiling (${fmt(ratios.ceilingRecordsPerSecond)} rec/s) | ${fmt(ratios.transactionalBestOverCeiling)} | – |`,
    `| batch size where transactional reaches 90% of its plateau | ${ratios.batchSizeAt90PercentOfPlateau ?? '–'} | – |`,
    '',
    '## Sweep',
    '',
    'Throughput: records/s at saturation (a pre-produced backlog read from its start; rate between the first commit and the target or time cap; median over rounds). ' +
      'Latency: e2e ms (intended send time → visible to a read_committed reader) under an open-model constant arrival rate at a fixed fraction of that cell\'s saturation. ' +
      'CPU: this process while the workers ran (cores). Audit: the group\'s committed input range against the lineage of every committed output and dead letter.',
    '',
    '| strategy | batch | workers | records/s | commits | rec/commit | CPU cores | CPU ms/1k rec | latency @ rec/s | p50 | p95 | p99 | audit (missing/dup/unexpected) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const cell of input.cells) {
    const audit = `${cell.audit.exactlyOnce ? '✓ exactly-once' : cell.ok ? '· at-least-once' : '✗ FAILED'} ${cell.audit.missing}/${cell.audit.duplicates}/${cell.audit.unexpected} of ${cell.audit.committed}` +
      (cell.latency && !cell.latency.exactlyOnce ? ' (latency run: not exactly-once)' : '');
    lines.push(
      `| ${cell.strategy} | ${cell.batchSize} | ${cell.workers} | ${fmt(cell.recordsPerSecond)} | ${cell.commits} | ${fmt(cell.recordsPerCommit)} | ${fmt(cell.cpuCores)} | ${fmt(cell.cpuMsPer1kRecords)} | ${fmt(cell.latency?.rate)} | ${fmt(cell.latency?.p50)} | ${fmt(cell.latency?.p95)} | ${fmt(cell.latency?.p99)} | ${audit} |`,
    );
  }
  lines.push('', '## Baselines (same run, same broker)', '', '| baseline | records/s | detail | audit |', '| --- | ---: | --- | --- |');
  for (const baseline of input.baselines) lines.push(`| ${baseline.name} | ${fmt(baseline.recordsPerSecond)} | ${baseline.detail ?? ''} | ${baseline.audit ?? ''} |`);
  if (chartFile) lines.push('', `![throughput against batch size](${chartFile})`);
  if (input.notes.length > 0) lines.push('', '## Notes', '', ...input.notes.map((note) => `- ${note}`));
  return `${lines.join('\n')}\n`;
}

const COLORS: Record<string, string> = { transactional: '#1f77b4', batch: '#2ca02c', 'per-message': '#d62728', auto: '#9467bd' };
const DASH: Record<number, string> = { 1: '', 2: '6 3', 3: '2 3' };
const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Throughput against batch size (log x), one line per strategy and worker count, baselines as horizontal marks. */
export function svgChart(input: ReportInput): string {
  const width = 900;
  const height = 520;
  const margin = { left: 80, right: 260, top: 40, bottom: 60 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const sizes = [...new Set(input.cells.map((cell) => cell.batchSize))].sort((a, b) => a - b);
  const maxY = Math.max(1, ...input.cells.map((c) => c.recordsPerSecond), ...input.baselines.map((b) => b.recordsPerSecond)) * 1.08;
  const minX = Math.log10(Math.max(1, sizes[0] ?? 1));
  const maxX = Math.log10(Math.max(10, sizes[sizes.length - 1] ?? 10));
  const span = maxX - minX || 1;
  const x = (size: number) => margin.left + ((Math.log10(Math.max(1, size)) - minX) / span) * plotW;
  const y = (value: number) => margin.top + plotH - (value / maxY) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${margin.left}" y="22" font-size="15" font-weight="bold">${escapeXml(input.title)}: throughput vs batch size</text>`,
    `<text x="${margin.left}" y="${height - 12}" fill="#555">${escapeXml(`${input.machine.cores} cores, ${input.machine.memoryGiB} GiB, Kafka ${input.broker.version}, ${input.when}`)}</text>`,
  ];
  const ticks = 5;
  for (let i = 0; i <= ticks; i++) {
    const value = (maxY / ticks) * i;
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${margin.left - 8}" y="${(y(value) + 4).toFixed(1)}" text-anchor="end">${Math.round(value).toLocaleString('en-US')}</text>`);
  }
  for (const size of sizes) {
    out.push(`<line x1="${x(size).toFixed(1)}" x2="${x(size).toFixed(1)}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#f3f3f3"/>`);
    out.push(`<text x="${x(size).toFixed(1)}" y="${margin.top + plotH + 18}" text-anchor="middle">${size}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${margin.top + plotH + 38}" text-anchor="middle">batch size (records, log scale)</text>`);
  out.push(`<text transform="translate(18 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">records/s at saturation</text>`);
  let legendY = margin.top + 10;
  const legend = (color: string, dash: string, label: string) => {
    out.push(`<line x1="${width - margin.right + 16}" x2="${width - margin.right + 46}" y1="${legendY}" y2="${legendY}" stroke="${color}" stroke-width="2" stroke-dasharray="${dash}"/>`);
    out.push(`<text x="${width - margin.right + 52}" y="${legendY + 4}">${escapeXml(label)}</text>`);
    legendY += 18;
  };
  const series = [...new Set(input.cells.map((cell) => `${cell.strategy}|${cell.workers}`))];
  for (const key of series) {
    const [strategy, workersText] = key.split('|') as [string, string];
    const workers = Number(workersText);
    const points = input.cells.filter((c) => c.strategy === strategy && c.workers === workers).sort((a, b) => a.batchSize - b.batchSize);
    const color = COLORS[strategy] ?? '#333';
    const dash = DASH[workers] ?? '1 2';
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="${workers === 1 ? 2.5 : 1.5}" stroke-dasharray="${dash}" points="${points.map((p) => `${x(p.batchSize).toFixed(1)},${y(p.recordsPerSecond).toFixed(1)}`).join(' ')}"/>`);
    for (const p of points)
      out.push(`<circle cx="${x(p.batchSize).toFixed(1)}" cy="${y(p.recordsPerSecond).toFixed(1)}" r="3" fill="${p.ok ? color : 'black'}"><title>${escapeXml(`${strategy} ×${workers} @ ${p.batchSize}: ${p.recordsPerSecond} rec/s`)}</title></circle>`);
    legend(color, dash, `${strategy}, ${workers} worker${workers === 1 ? '' : 's'}`);
  }
  legendY += 6;
  const baselineColors: Record<string, string> = { naive: '#ff7f0e', eachBatch: '#8c564b', producerCeiling: '#555', consumerCeiling: '#999' };
  for (const baseline of input.baselines) {
    const color = baselineColors[baseline.key] ?? '#777';
    const yy = y(baseline.recordsPerSecond).toFixed(1);
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${yy}" y2="${yy}" stroke="${color}" stroke-width="1.5" stroke-dasharray="8 4"/>`);
    out.push(`<text x="${margin.left + plotW - 4}" y="${Number(yy) - 4}" text-anchor="end" fill="${color}">${escapeXml(`${baseline.name}: ${baseline.recordsPerSecond.toLocaleString('en-US')}`)}</text>`);
    legend(color, '8 4', baseline.name);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
