import type { KafkaMessage } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/load.js';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import { entryOf, filterOf, filterProblems, matches, pageOf, replayFiltersForRecord, replayFiltersOf } from '../../src/console/dead-letters.js';
import { escapeHtml, Html, html } from '../../src/console/html.js';
import { pipelineView } from '../../src/console/pipeline-view.js';
import { consoleSettingsProblem, type RunningConsole, startConsole } from '../../src/console/server.js';
import type { ConsoleSource, DeadLetterDetail } from '../../src/console/source.js';
import { viewValue } from '../../src/console/value-view.js';
import { ConfigError } from '../../src/errors/index.js';
import { defineHandler, definePipeline, FAILURE_HEADERS } from '../../src/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { resolvePipeline } from '../../src/pipeline/definition.js';

const SCRIPT = '<script>alert(1)</script>';
const IMG = '"><img src=x onerror=alert(2)>';

describe('the escaping template', () => {
  it('escapes every interpolation, in content and in quoted attributes, and keeps its own markup', () => {
    const page = html`<td title="${IMG}">${SCRIPT}</td>`;
    expect(page.text).toBe('<td title="&quot;&gt;&lt;img src=x onerror=alert(2)&gt;">&lt;script&gt;alert(1)&lt;/script&gt;</td>');
    expect(escapeHtml(`&'\``)).toBe('&amp;&#39;&#96;');
  });

  it('nests templates without escaping them twice, joins lists, drops null, undefined and false', () => {
    const rows = ['a<', 'b>'].map((cell) => html`<li>${cell}</li>`);
    expect(html`<ul>${rows}${null}${undefined}${false}${0}</ul>`.text).toBe('<ul><li>a&lt;</li><li>b&gt;</li>0</ul>');
    // Only an Html made by the template passes unescaped: a string that looks like markup never does.
    expect(html`${'<b>'}${new Html('<b>')}`.text).toBe('&lt;b&gt;<b>');
  });
});

describe('a value as the console shows it', () => {
  it('pretty-prints JSON, shows text as text, binary as hex, and says what was cut', () => {
    expect(viewValue(Buffer.from('{"a":[1,2]}'), 100)).toEqual({ kind: 'json', text: '{\n  "a": [\n    1,\n    2\n  ]\n}', bytes: 11, cut: false });
    expect(viewValue(Buffer.from(SCRIPT), 100)).toMatchObject({ kind: 'text', text: SCRIPT });
    const binary = viewValue(Buffer.from([0, 1, 0x41, 0xff]), 100);
    expect(binary).toMatchObject({ kind: 'hex', bytes: 4 });
    expect(binary.text).toBe(`00000000  ${'00 01 41 ff'.padEnd(47)}  ..A.`);
    expect(viewValue(Buffer.from('x'.repeat(50)), 10)).toEqual({ kind: 'text', text: 'x'.repeat(10), bytes: 50, cut: true });
    // Cut in the middle of a character: still text, not hex.
    expect(viewValue(Buffer.from('éé'), 3)).toMatchObject({ kind: 'text', cut: true });
    expect(viewValue(null, 10).kind).toBe('null');
  });
});

function deadLetter(offset: number, headers: Record<string, string>, key = `k${offset}`): KafkaMessage {
  return { offset: String(offset), key: Buffer.from(key), value: Buffer.from('{}'), timestamp: '1700000000000', attributes: 0, headers } as KafkaMessage;
}

const failure = (errorClass: string, reason: string, at: string, original: number) => ({
  [FAILURE_HEADERS.errorClass]: errorClass,
  [FAILURE_HEADERS.reason]: reason,
  [FAILURE_HEADERS.errorMessage]: `${errorClass} at ${original}`,
  [FAILURE_HEADERS.failedAt]: at,
  [FAILURE_HEADERS.originalTopic]: 'orders',
  [FAILURE_HEADERS.originalPartition]: '0',
  [FAILURE_HEADERS.originalOffset]: String(original),
});

describe('the dead-letter list', () => {
  const entries = [
    entryOf('orders.dlt', 0, deadLetter(0, failure('DecodeError', 'decode-failed', '2026-01-01T10:00:00.000Z', 5))),
    entryOf('orders.dlt', 0, deadLetter(1, failure('TypeError', 'retries-exhausted', '2026-01-01T11:00:00.000Z', 9))),
    entryOf('orders.dlt', 1, deadLetter(0, failure('TypeError', 'retries-exhausted', '2026-01-01T12:00:00.000Z', 12))),
  ];

  it('filters as dlt replay --filter does (exact fields), by a part of the message and by a time range', () => {
    const chosen = (query: Record<string, string>) => entries.filter((entry) => matches(entry, filterOf(query))).map((entry) => entry.originalOffset);
    expect(chosen({ errorClass: 'TypeError' })).toEqual(['9', '12']);
    expect(chosen({ reason: 'decode-failed', errorClass: '' })).toEqual(['5']);
    expect(chosen({ message: 'typeerror AT 1' })).toEqual(['12']);
    expect(chosen({ from: '2026-01-01T10:30', to: '2026-01-01T12:00' })).toEqual(['9']);
    expect(chosen({ key: 'k1', originalOffset: '9' })).toEqual(['9']);
    expect(filterProblems(filterOf({ from: 'yesterday', originalOffset: '-1' }))).toEqual(["from: 'yesterday' is not a date and time", "originalOffset: '-1' is not a whole number"]);
  });

  it('pages newest first', () => {
    const first = pageOf(entries, {}, 1, 2);
    expect({ matched: first.matched, pages: first.pages, offsets: first.entries.map((entry) => entry.originalOffset) }).toEqual({ matched: 3, pages: 2, offsets: ['12', '9'] });
    expect(pageOf(entries, {}, 99, 2).entries.map((entry) => entry.originalOffset)).toEqual(['5']);
  });

  it('turns a filter into replay filters only when a replay can match it exactly', () => {
    expect(replayFiltersOf(filterOf({ errorClass: 'DecodeError', reason: 'decode-failed', originalTopic: 'orders' }))).toEqual({
      filters: ['dlt-reason=decode-failed', 'error-class=DecodeError', 'original-topic=orders'],
    });
    expect(replayFiltersOf(filterOf({ errorClass: 'DecodeError', message: 'bad' }))).toEqual({
      refused: 'a replay matches headers exactly: clear error message (a part of it) to replay by filter (or replay records one at a time)',
    });
    expect(replayFiltersForRecord(entries[0] as (typeof entries)[0])).toEqual(['original-topic=orders', 'original-partition=0', 'original-offset=5']);
    expect(replayFiltersForRecord({ originalTopic: '', originalPartition: '0', originalOffset: '1' })).toBeUndefined();
  });
});

describe('a pipeline as the console shows it', () => {
  it('never carries a sink database password or URL', () => {
    const pipeline = resolvePipeline(
      definePipeline({
        name: 'sink',
        input: 'orders',
        handler: defineHandler({ handle: () => undefined }),
        sink: { postgres: { url: 'postgres://app:url-secret@db:5432/app', password: 'password-secret' } },
      }),
      { commit: DEFAULT_SETTINGS.commit, groupId: 'g' },
    );
    const shown = JSON.stringify(pipelineView(pipeline));
    expect(shown).toContain('PostgreSQL');
    expect(shown).not.toMatch(/secret|postgres:\/\//);
  });

  it('says when a key is held behind its retries', () => {
    const pipeline = (keyOrderOnRetry: 'hold' | 'overtake') =>
      resolvePipeline(
        definePipeline({ name: 'p', input: 'orders', output: 'out', handler: defineHandler({ handle: () => undefined }), errors: { onError: 'retry', attempts: 2, keyOrderOnRetry } }),
        { commit: DEFAULT_SETTINGS.commit, groupId: 'g' },
      );
    expect(pipelineView(pipeline('hold')).errorPolicy).toMatch(/keyOrderOnRetry: hold/);
    expect(pipelineView(pipeline('overtake')).errorPolicy).not.toMatch(/hold/);
  });
});

describe('console settings', () => {
  it('takes --allow-replay and its env as a boolean, and refuses a value that is not one', () => {
    expect(loadSettings({ env: { KAFKA_BROKERS: 'b:1', TXSTREAM_CONSOLE_ALLOW_REPLAY: 'true', TXSTREAM_CONSOLE_PORT: '9000' } }).settings.console).toEqual({
      port: 9000,
      host: '127.0.0.1',
      allowReplay: true,
    });
    expect(() => loadSettings({ env: { KAFKA_BROKERS: 'b:1', TXSTREAM_CONSOLE_ALLOW_REPLAY: 'maybe' } })).toThrow(
      "env TXSTREAM_CONSOLE_ALLOW_REPLAY: 'maybe' is not true or false",
    );
    expect(() => loadSettings({ env: { KAFKA_BROKERS: 'b:1', TXSTREAM_CONSOLE_TOKEN: 'short' } })).toThrow(/at least 16 characters/);
  });

  it('needs a token beyond loopback and with replay on', () => {
    expect(consoleSettingsProblem({ host: '127.0.0.1', allowReplay: false })).toBeUndefined();
    expect(consoleSettingsProblem({ host: '0.0.0.0', allowReplay: false })).toMatch(/beyond this machine: set a token/);
    expect(consoleSettingsProblem({ host: 'localhost', allowReplay: true })).toMatch(/--allow-replay lets the console change topics: set a token/);
    expect(consoleSettingsProblem({ host: '0.0.0.0', allowReplay: true, token: 'x'.repeat(16) })).toBeUndefined();
  });
});

/** A stand-in for the Kafka reads: the server's checks and pages are what is tested here (the browser test reads a broker). */
function standIn(replays: string[][]): ConsoleSource {
  const detail: DeadLetterDetail = {
    entry: entryOf('orders.dlt', 0, deadLetter(0, failure('DecodeError', 'decode-failed', '2026-01-01T10:00:00.000Z', 5))),
    headers: { note: IMG, [FAILURE_HEADERS.errorMessage]: SCRIPT },
    value: Buffer.from(SCRIPT),
  };
  return {
    pipelines: () => [{ name: 'orders', groupId: 'g.orders', inputs: ['orders'], outputs: ['out'], retryTiers: [], deadLetterTopics: ['orders.dlt'], strategy: 'transactional', errorPolicy: 'dead-letter', concurrency: 'partition' }],
    lag: () => ({ history: { times: [], totals: [] } }),
    retryTiers: async () => [],
    deadLetters: async () => ({ entries: [detail.entry], total: 1, byReason: {}, byErrorClass: {}, capped: false, readAt: 0 }),
    deadLetter: async () => detail,
    replay: async (_name, request) => {
      replays.push([...request.filters]);
      return { scanned: 1, matched: 1, replayed: request.dryRun ? 0 : 1, passedOver: 0, passedOverSample: [], stoppedAt: [] };
    },
    audit: async () => ({ ok: true, text: 'ok' }),
    close: async () => {},
  };
}

describe('the console server', () => {
  const TOKEN = 'unit-console-token-0123';
  let running: RunningConsole | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  async function start(options: { token?: string; allowReplay?: boolean } = {}) {
    const replays: string[][] = [];
    running = await startConsole({ source: standIn(replays), host: '127.0.0.1', port: 0, logger: createLogger({ level: 'silent' }), allowReplay: false, ...options });
    const base = running.url.replace(/\/$/, '');
    return { base, replays };
  }

  it('refuses to start beyond loopback or with replay without a token', async () => {
    await expect(startConsole({ source: standIn([]), host: '0.0.0.0', port: 0, logger: createLogger({ level: 'silent' }), allowReplay: false })).rejects.toThrow(ConfigError);
    await expect(startConsole({ source: standIn([]), host: '127.0.0.1', port: 0, logger: createLogger({ level: 'silent' }), allowReplay: true })).rejects.toThrow(ConfigError);
  });

  it('shows a dead letter whose value and headers hold markup as text, under a strict Content-Security-Policy', async () => {
    const { base } = await start();
    const response = await fetch(`${base}/pipelines/orders/dead-letters/orders.dlt/0/0`);
    const body = await response.text();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(body).toContain('&quot;&gt;&lt;img src=x onerror=alert(2)&gt;');
    expect(body).not.toContain(SCRIPT);
    expect(body).not.toContain('<img');
  });

  it('with a token: shows nothing before it, then changes need it in a header and a same-origin request', async () => {
    const { base, replays } = await start({ token: TOKEN, allowReplay: true });
    expect((await fetch(`${base}/pipelines/orders`, { redirect: 'manual' })).headers.get('location')).toBe('/login');
    const wrong = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ token: 'nope' }), headers: { origin: base } });
    expect(wrong.status).toBe(401);
    const login = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ token: TOKEN }), headers: { origin: base }, redirect: 'manual' });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    expect(login.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Strict/);
    const page = await (await fetch(`${base}/pipelines/orders/dead-letters/orders.dlt/0/0`, { headers: { cookie } })).text();
    // The page carries a value derived from the token for htmx to send, never the token itself.
    expect(page).not.toContain(TOKEN);
    const csrf = /x-console-token&quot;:&quot;([^&]+)&quot;/.exec(page)?.[1] as string;
    expect(csrf).toBeDefined();

    const replay = (headers: Record<string, string>) =>
      fetch(`${base}/pipelines/orders/replay`, { method: 'POST', body: new URLSearchParams({ filter: 'original-offset=5', dryRun: 'false' }), headers: { cookie, ...headers } });
    const noHeader = await replay({ origin: base });
    expect([noHeader.status, await noHeader.text()]).toEqual([403, 'refused: a change needs the console token (header X-Console-Token)']);
    expect((await replay({ origin: 'http://evil.example', 'x-console-token': csrf })).status).toBe(403);
    expect((await replay({ 'sec-fetch-site': 'cross-site', 'x-console-token': csrf })).status).toBe(403);
    expect(replays).toEqual([]);
    const done = await replay({ origin: base, 'sec-fetch-site': 'same-origin', 'x-console-token': csrf });
    expect(await done.text()).toContain('replayed 1 of 1 dead-letter record(s) scanned');
    expect(replays).toEqual([['original-offset=5']]);
  });

  it('refuses replay unless started with it, and a Host that is not its own (DNS rebinding)', async () => {
    const { base, replays } = await start();
    const refused = await fetch(`${base}/pipelines/orders/replay`, { method: 'POST', body: new URLSearchParams({ filter: 'key=a' }), headers: { origin: base } });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('replay is off');
    expect(replays).toEqual([]);
    const { request } = await import('node:http');
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const port = new URL(base).port;
      request({ host: '127.0.0.1', port, path: '/', headers: { host: `rebound.example:${port}` } }, (response) => {
        response.resume();
        resolve(response.statusCode);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(421);
  });
});
