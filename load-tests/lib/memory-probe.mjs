// Where a measured worker's memory goes: a preload for the worker process of the partitions sweep,
//   --worker-node-options=--import=./load-tests/lib/memory-probe.mjs  (with MEMORY_PROBE_OUT=<file>)
// Every 50 ms it reads process.memoryUsage() (RSS, V8 heap, external and ArrayBuffer memory) and
// V8's heap spaces at the largest RSS seen; when the process exits it appends one JSON line to
// MEMORY_PROBE_OUT: the peaks, the breakdown at the RSS peak, the process's CPU time and its input
// topic (so a line is matched to its cell).
import { appendFileSync, readFileSync } from 'node:fs';
import { setInterval } from 'node:timers';
import { getHeapSpaceStatistics } from 'node:v8';

const out = process.env.MEMORY_PROBE_OUT;
if (out) {
  const MiB = 2 ** 20;
  const inMiB = (usage) => Object.fromEntries(Object.entries(usage).map(([key, value]) => [key, Math.round((value / MiB) * 10) / 10]));
  const peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  let atRssPeak = {};
  let spacesAtRssPeak = {};
  let residentAtRssPeak = {};
  // The kernel's split of the RSS: anonymous memory (V8's heap, malloc's arenas: Buffers among them) and file pages (the node binary's code, mostly).
  const resident = () => {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { anonymous: kib('RssAnon'), file: kib('RssFile'), shmem: kib('RssShmem') };
  };
  const timer = setInterval(() => {
    const usage = process.memoryUsage();
    for (const key of Object.keys(peak)) peak[key] = Math.max(peak[key], usage[key]);
    if (usage.rss >= peak.rss) {
      atRssPeak = usage;
      spacesAtRssPeak = Object.fromEntries(getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size]));
      if (process.platform === 'linux') residentAtRssPeak = resident();
    }
  }, 50);
  timer.unref();
  process.on('exit', () => {
    let input;
    try {
      input = JSON.parse(process.argv[2]).topics.input;
    } catch {
      input = undefined;
    }
    const cpu = process.cpuUsage();
    appendFileSync(
      out,
      JSON.stringify({
        input,
        peak: inMiB(peak),
        atRssPeak: inMiB(atRssPeak),
        spacesAtRssPeak: inMiB({ new_space: spacesAtRssPeak.new_space ?? 0, old_space: spacesAtRssPeak.old_space ?? 0 }),
        residentAtRssPeak: inMiB(residentAtRssPeak),
        cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      }) + '\n',
    );
  });
}
