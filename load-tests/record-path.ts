/**
 * CPU per record of each stage of the record path, in one process and without a broker
 * (lib/record-path-bench.ts): the figure to read when a change to the per-record code should
 * move the partitions sweep's CPU per record by a few percent, less than that sweep's own
 * run-to-run spread on 2 shared cores.
 *
 *   npm run load:record-path [-- --rounds 9 --records 500 --record-bytes 1024 --label <name> --results-dir <dir>]
 *
 * Compiles the bench with tsc (as the measured worker is: tsx's wrappers cost CPU of their own) and
 * runs it in a Node process of its own; writes results/record-path-<date>[-label].{json,md}.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compileWorkerChild } from './lib/child-worker.js';
import { cpuModel } from './lib/cpu-model.js';
import type { RecordPathConfig, RecordPathResult } from './lib/record-path-bench.js';

const BENCH_BUILT = join(import.meta.dirname, '..', '.cache', 'load-build', 'load-tests', 'lib', 'record-path-bench.js');

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '9' },
    records: { type: 'string', default: '500' },
    'record-bytes': { type: 'string', default: '1024' },
    label: { type: 'string' },
    'results-dir': { type: 'string', default: join(import.meta.dirname, 'results') },
  },
});

const positive = (name: string, text: string | undefined): number => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`load:record-path: --${name} must be a whole number from 1, got ${String(text)}`);
    process.exit(2);
  }
  return value;
};

const config: RecordPathConfig = {
  rounds: positive('rounds', values.rounds),
  records: positive('records', values.records),
  recordBytes: positive('record-bytes', values['record-bytes']),
};

await compileWorkerChild();
const loadBefore = loadavg()[0] ?? 0;
const started = new Date();
// A child of its own: the harness's modules and tsx stay out of the measured heap and JIT.
const output = execFileSync(process.execPath, [BENCH_BUILT, JSON.stringify(config)], { encoding: 'utf8', timeout: 600_000 });
const result = JSON.parse(output) as RecordPathResult;
const loadAfter = loadavg()[0] ?? 0;

const command = `npm run load:record-path -- ${process.argv.slice(2).join(' ')}`.trim();
const date = started.toISOString().slice(0, 10);
const name = `record-path-${date}${values.label ? `-${values.label}` : ''}`;
const lines = [
  `# txstream record path (${name})`,
  '',
  `${started.toISOString()}: \`${command}\`. Machine: ${cpus().length} cores (${cpuModel()}), Node ${result.node}; load average ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}.`,
  `${config.records}-record units of ${config.recordBytes}-byte JSON values (the partitions sweep's records), the echo pipeline; CPU time of the process, median and lowest of ${config.rounds} rounds of ~0.2 s each, after a warm-up; then one more round under V8's GC profiler for the bytes it allocated.`,
  '',
  '| stage | what | ns of CPU per record (median round) | of which in the kernel | lowest round | bytes allocated on the V8 heap per record |',
  '| --- | --- | ---: | ---: | ---: | ---: |',
  ...result.stages.map((stage) => `| ${stage.stage} | ${stage.what} | ${Math.round(stage.nsPerRecord)} | ${Math.round(stage.systemNsPerRecord)} | ${Math.round(stage.lowestNsPerRecord)} | ${Math.round(stage.heapBytesPerRecord)} |`),
  '',
];
mkdirSync(values['results-dir'], { recursive: true });
writeFileSync(join(values['results-dir'], `${name}.json`), `${JSON.stringify({ command, startedAt: started.toISOString(), loadAverage: [loadBefore, loadAfter], config, ...result }, null, 2)}\n`);
writeFileSync(join(values['results-dir'], `${name}.md`), lines.join('\n'));
console.log(lines.join('\n'));
console.log(`written: ${join(values['results-dir'], `${name}.{json,md}`)}`);
