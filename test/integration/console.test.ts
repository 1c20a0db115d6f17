import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import { startConsole, type RunningConsole } from '../../src/console/server.js';
import { KafkaConsoleSource } from '../../src/console/source.js';
import { createKafka } from '../../src/kafka/client.js';
import { createLogger } from '../../src/observability/logger.js';
import { loadPipelines } from '../../src/pipeline/load.js';
import { type ResolvedPipeline, resolvePipeline } from '../../src/pipeline/definition.js';
import { replayDeadLetters } from '../../src/routing/replay.js';
import { REPLAY_HEADERS } from '../../src/routing/failure-headers.js';
import { createTopics, produce, readTopics, uniqueName } from '../support/kafka.js';
import { readWithKcat } from '../support/kcat.js';
import { WorkerProcess, writeWorkerConfig } from '../support/worker-process.js';

/**
 * The console in a real browser (Debian's chromium, driven by playwright-core) against a real broker and a
 * worker routing poison records: find the dead letters, filter by error class, open one, replay it (checked
 * with kcat, read_committed, to be copied back exactly once); lag reaches 0; markup in a value or header shows
 * as text; a change without the token is refused. TXSTREAM_SCREENSHOTS=1 writes the README's screenshots.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const brokers = inject('kafkaBrokers');
const TOKEN = 'console-test-token-0123456789';
const SCREENSHOTS = process.env.TXSTREAM_SCREENSHOTS === '1';
const DOCS = resolve(import.meta.dirname, '../../docs');

const input = uniqueName('console');
const dlt = `${input}.dlt`;
/** Not JSON, so a DecodeError; markup in the value and in a header, which must show as text and never run. */
const SCRIPT_VALUE = '<script>window.__pwned = "value"</script> not json';
const IMG_HEADER = '"><img src=x onerror="window.__pwned = \'header\'">';

let browser: Browser;
let worker: WorkerProcess;
let running: RunningConsole;
let source: KafkaConsoleSource;
let pipeline: ResolvedPipeline;

beforeAll(async () => {
  // CI installs chromium (.ci/run): a missing browser fails the test, it never skips it.
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  await createTopics(brokers, [{ topic: input }, { topic: `${input}.out` }, { topic: `${input}.retry.1` }, { topic: dlt }]);
  // The poison record first, so it is the dead-letter topic's first record (decode failures skip the retry tier).
  await produce(brokers, input, [
    { key: 'poison', value: SCRIPT_VALUE, headers: { note: IMG_HEADER } },
    ...Array.from({ length: 300 }, (_, n) => ({ key: `k${n}`, value: JSON.stringify({ n }) })),
  ]);
  const config = writeWorkerConfig({
    brokers,
    groupId: uniqueName('g'),
    input,
    output: `${input}.out`,
    pipelineName: 'orders',
    errors: { onError: 'retry', attempts: 1, backoff: { initialMs: 500, maxMs: 500 }, then: 'dead-letter' },
  });
  // Slowed a little (15 ms a record), so the lag is seen falling to 0, not only at 0.
  worker = WorkerProcess.start(config, { failMode: 'routing', name: 'console-worker', handlerDelayMs: 15 });
  const { loadSettings } = await import('../../src/config/load.js');
  const { settings, baseDir } = loadSettings({ file: config });
  const pipelines = (await loadPipelines(settings.pipelines, baseDir, [])).map((definition) => resolvePipeline(definition, { commit: DEFAULT_SETTINGS.commit, groupId: settings.groupId }));
  const logger = createLogger({ level: 'silent' });
  pipeline = pipelines[0] as ResolvedPipeline;
  source = new KafkaConsoleSource(createKafka({ brokers, clientId: 'console-test', logger }), pipelines, logger, { lagIntervalMs: 1000 });
  await source.start();
  running = await startConsole({ source, host: '127.0.0.1', port: 0, token: TOKEN, allowReplay: true, logger });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  await running?.close();
  await source?.close();
  await worker?.stop();
});

describe('txstream console in a browser', () => {
  it('shows lag reaching 0, finds and filters the dead letters, shows markup as text, replays one exactly once, refuses changes without the token', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('dialog', (dialog) => {
      throw new Error(`a dialog opened: ${dialog.message()}`);
    });
    // Script errors and Content-Security-Policy violations (htmx, uPlot and the chart script must run under it).
    // A refused request (4xx) is logged by the browser too, and is expected here.
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
    });

    // Nothing is shown before the token.
    await page.goto(running.url);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.fill('input[name=token]', TOKEN);
    await page.click('button[type=submit]');
    await page.waitForURL(running.url);

    // The pipeline view: its lag, refreshed live, reaches 0 once the worker has routed everything.
    await page.goto(`${running.url}pipelines/orders`);
    await expect.poll(() => page.textContent('.total-lag'), { timeout: 60_000, interval: 1000 }).toBe('0');
    expect(await page.textContent('.definition')).toContain(`${input}.retry.1`);
    await page.waitForSelector('.chart canvas');
    // The chart's readings: the lag was seen above 0 and then at 0.
    const history = (await (await page.request.get(`${running.url}pipelines/orders/lag.json`)).json()) as { totals: number[] };
    expect(Math.max(...history.totals)).toBeGreaterThan(0);
    expect(history.totals.at(-1)).toBe(0);
    await page.waitForSelector('#tiers table');
    // The audit (txstream audit's reading and verdict): every input has exactly one ending.
    await page.click('button[hx-post$="/audit"]');
    await expect.poll(() => page.textContent('#audit'), { timeout: 60_000 }).toContain('OK: every processed input has exactly one ending');
    if (SCREENSHOTS) await page.screenshot({ path: `${DOCS}/console-pipeline.png`, fullPage: true });

    // The poison record, and 0, 50, 97, 100, 150, 194, 200, 250 and 291, which fail their retry too.
    await readTopics(brokers, [dlt], { until: (records) => records.length >= 10, quietMs: 0 });
    await page.goto(`${running.url}pipelines/orders/dead-letters`);
    expect(await page.textContent('p.matched')).toContain('10 matches');
    expect(await page.textContent('.counts')).toMatch(/DecodeError\s*1/);
    if (SCREENSHOTS) await page.screenshot({ path: `${DOCS}/console-dead-letters.png`, fullPage: true });

    // Filter by error class, open the one record.
    await page.fill('input[name=errorClass]', 'DecodeError');
    await page.click('form.filters button[type=submit]');
    await page.waitForURL(/errorClass=DecodeError/);
    expect(await page.textContent('p.matched')).toContain('1 match ');
    expect(await page.locator('table.dead-letters tbody tr').count()).toBe(1);
    await page.click('table.dead-letters a.open');
    await page.waitForURL(new RegExp(`/dead-letters/${dlt}/0/0$`));

    // Markup in the value and in a header is shown as text and runs nothing.
    expect(await page.textContent('pre.value')).toBe(SCRIPT_VALUE);
    expect(await page.locator('table.headers').textContent()).toContain(IMG_HEADER);
    expect(await page.locator('main img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: string }).__pwned)).toBeUndefined();

    // A change without the token (the page's session cookie alone) is refused, and so is a cross-site one.
    const replayUrl = `${running.url}pipelines/orders/replay`;
    const form = { filter: `original-topic=${input}`, dryRun: 'false' };
    const noToken = await page.request.post(replayUrl, { form, headers: { origin: running.url.replace(/\/$/, '') } });
    expect(noToken.status()).toBe(403);
    expect(await noToken.text()).toContain('needs the console token');
    const crossSite = await page.request.post(replayUrl, { form, headers: { origin: 'http://evil.example', 'x-console-token': TOKEN } });
    expect(crossSite.status()).toBe(403);

    // Preview, then replay through the page's own form (htmx sends the token header).
    await page.click('button.dry-run');
    await expect.poll(() => page.textContent('.replay-result'), { timeout: 30_000 }).toContain('dry run: 1 of 1 dead-letter record(s) would be replayed');
    await page.click('button.replay-now');
    await expect.poll(() => page.textContent('.replay-result'), { timeout: 30_000 }).toContain('replayed 1 of 1 dead-letter record(s) scanned');
    // Again: the replay group is past it, so nothing is copied twice.
    await page.click('button.replay-now');
    await expect.poll(() => page.textContent('.replay-result'), { timeout: 30_000 }).toContain('replayed 0 of 0 dead-letter record(s) scanned');

    // While `dlt replay` runs (the CLI's function, 2 a second), the console's replay is refused and says why.
    const kafka = createKafka({ brokers, clientId: 'console-test-cli', logger: createLogger({ level: 'silent' }) });
    const cli = replayDeadLetters({ kafka, pipeline, logger: createLogger({ level: 'silent' }), ratePerSecond: 2 });
    await readTopics(brokers, [input], { until: (records) => records.filter((record) => record.headers[REPLAY_HEADERS.replayedFrom]).length >= 2, quietMs: 0 });
    await page.click('button.replay-now');
    await expect
      .poll(() => page.textContent('.replay-result'), { timeout: 30_000 })
      .toMatch(/^\s*dlt replay: another replay of pipeline 'orders' is running or starting \(group \S+\.dlt-replay: member .+\); this one replayed nothing/);
    const byCli = await cli;
    expect(byCli.replayed).toBeGreaterThan(0);

    // kcat, read_committed: the dead letter came back to the input exactly once, and every other replayed one once.
    const replayed = (records: Awaited<ReturnType<typeof readWithKcat>>) => records.filter((record) => record.headers[REPLAY_HEADERS.replayedFrom] !== undefined);
    const copies = replayed(await readWithKcat(brokers, [input], { until: (records) => replayed(records).length >= 1 + byCli.replayed, timeoutMs: 30_000 }));
    const from = copies.map((record) => record.headers[REPLAY_HEADERS.replayedFrom]);
    expect(copies).toHaveLength(1 + byCli.replayed);
    expect(new Set(from).size).toBe(from.length);
    expect(copies.filter((record) => record.headers[REPLAY_HEADERS.replayedFrom] === `${dlt}/0/0`).map((record) => record.value)).toEqual([SCRIPT_VALUE]);
    expect(problems).toEqual([]);
    await page.close();
  });
});
