import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { DEFAULTS } from '../config/defaults.js';
import { CommandError, ConfigError } from '../errors/index.js';
import { filterOf, filterProblems, pageOf } from './dead-letters.js';
import type { Html } from './html.js';
import {
  auditFragment,
  deadLetterPage,
  deadLettersPage,
  errorFragment,
  errorPage,
  loginPage,
  overviewPage,
  type PageContext,
  pipelinePage,
  replayResultFragment,
  statusFragment,
  tiersFragment,
  TOKEN_HEADER,
} from './pages.js';
import type { ConsoleSource } from './source.js';
import { viewValue } from './value-view.js';

export interface ConsoleOptions {
  readonly source: ConsoleSource;
  readonly host: string;
  readonly port: number;
  /** Asked for before anything is shown, and on every change. Required beyond loopback and with allowReplay. */
  readonly token?: string;
  readonly allowReplay: boolean;
  readonly logger: Logger;
}

export interface RunningConsole {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const COOKIE = 'txstream_console';
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Why a console with these settings must not start (a ConfigError): changes and non-loopback addresses need a token. */
export function consoleSettingsProblem(options: Pick<ConsoleOptions, 'host' | 'token' | 'allowReplay'>): string | undefined {
  if (options.token !== undefined) return undefined;
  if (!LOOPBACK.has(options.host)) return `the console listens on ${options.host}, beyond this machine: set a token (--token or TXSTREAM_CONSOLE_TOKEN)`;
  if (options.allowReplay) return '--allow-replay lets the console change topics: set a token (--token or TXSTREAM_CONSOLE_TOKEN)';
  return undefined;
}

/** The browser files, served from the packages that ship them (no CDN: the console works offline). */
function assets(): Map<string, { body: Buffer; type: string }> {
  const require = createRequire(import.meta.url);
  const own = (name: string) => new URL(`./assets/${name}`, import.meta.url);
  const files: Array<[string, string | URL, string]> = [
    ['htmx.min.js', require.resolve('htmx.org/dist/htmx.min.js'), 'text/javascript'],
    ['uPlot.iife.min.js', require.resolve('uplot/dist/uPlot.iife.min.js'), 'text/javascript'],
    ['uPlot.min.css', require.resolve('uplot/dist/uPlot.min.css'), 'text/css'],
    ['console.js', own('console.js'), 'text/javascript'],
    ['console.css', own('console.css'), 'text/css'],
  ];
  return new Map(files.map(([name, path, type]) => [name, { body: readFileSync(path), type: `${type}; charset=utf-8` }]));
}

/**
 * The console's web server. Secure by default: every page is built by the escaping template (values and headers
 * show as text); a strict Content-Security-Policy allows only the console's own scripts; with a token nothing is
 * shown before it is given (a SameSite=Strict, HttpOnly cookie then), and every POST needs a value derived from it
 * in a header (htmx sends it) plus a same-origin Origin or Sec-Fetch-Site; the Host header must name the console
 * (a DNS-rebinding page cannot read it); replay is refused unless the console was started with it.
 */
export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const problem = consoleSettingsProblem(options);
  if (problem) throw new ConfigError(problem);
  const { source, token } = options;
  const files = assets();
  const session = token === undefined ? undefined : derive(token, 'session');
  const csrf = token === undefined ? undefined : derive(token, 'csrf');
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  await app.register(formbody);
  const context = (): PageContext => ({ csrf, allowReplay: options.allowReplay, pipelines: source.pipelines() });
  let port = options.port;

  app.addHook('onRequest', async (request, reply) => {
    reply.headers({
      'content-security-policy':
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      'x-content-type-options': 'nosniff',
      // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` on a form POST, and the origin check needs it.
      'referrer-policy': 'same-origin',
      'x-frame-options': 'DENY',
      'cache-control': 'no-store',
    });
    if (!hostAllowed(request.headers.host, options.host, port)) return reply.code(421).type('text/plain').send('this console answers only to its own address');
    if (request.method === 'POST' && !sameOrigin(request)) return reply.code(403).type('text/plain').send('refused: a cross-site request');
    if (request.url.startsWith('/assets/') || request.url === '/login') return;
    if (session !== undefined && !equal(cookieOf(request), session) && !equal(header(request, TOKEN_HEADER), token)) {
      if (request.method === 'GET' && !request.headers['hx-request']) return reply.redirect('/login');
      return reply.code(401).type('text/plain').send('refused: the console token is missing');
    }
    if (request.method === 'POST' && csrf !== undefined && !equal(header(request, TOKEN_HEADER), csrf) && !equal(header(request, TOKEN_HEADER), token)) {
      return reply.code(403).type('text/plain').send('refused: a change needs the console token (header X-Console-Token)');
    }
  });

  app.setErrorHandler((error, request, reply) => {
    // Our own refusals (a replay already running, a missing topic) are for the operator; anything else is logged, not shown.
    const known = error instanceof CommandError || error instanceof ConfigError || (error instanceof Error && error.name.startsWith('KafkaJS'));
    const message = known ? (error as Error).message : 'the console failed to answer: see its log';
    if (!known) options.logger.error({ err: error, url: request.url }, 'console request failed');
    const status = error instanceof CommandError || error instanceof ConfigError ? 409 : 500;
    void send(reply.code(status), request.headers['hx-request'] ? errorFragment(message) : errorPage(context(), status, message));
  });

  app.get('/assets/:name', async (request, reply) => {
    const file = files.get((request.params as { name: string }).name);
    if (!file) return reply.code(404).send();
    return reply.header('cache-control', 'public, max-age=3600').type(file.type).send(file.body);
  });

  app.get('/login', async (_request, reply) => (token === undefined ? reply.redirect('/') : send(reply, loginPage())));
  app.post('/login', async (request, reply) => {
    if (token === undefined) return reply.redirect('/');
    const given = (request.body as Record<string, unknown> | undefined)?.token;
    if (typeof given !== 'string' || !equal(given, token)) return send(reply.code(401), loginPage('That is not the console token.'));
    return reply.header('set-cookie', `${COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/`).redirect('/', 303);
  });

  const pipelineOf = (request: FastifyRequest) => {
    const name = (request.params as { name: string }).name;
    const pipeline = source.pipelines().find((candidate) => candidate.name === name);
    if (!pipeline) throw new CommandError(`no pipeline named '${name}'`);
    return pipeline;
  };

  app.get('/', async (_request, reply) => send(reply, overviewPage(context(), new Map(source.pipelines().map((pipeline) => [pipeline.name, source.lag(pipeline.name)])))));
  app.get('/pipelines/:name', async (request, reply) => {
    const pipeline = pipelineOf(request);
    return send(reply, pipelinePage(context(), pipeline, source.lag(pipeline.name)));
  });
  app.get('/pipelines/:name/status', async (request, reply) => send(reply, statusFragment(source.lag(pipelineOf(request).name))));
  app.get('/pipelines/:name/lag.json', async (request) => source.lag(pipelineOf(request).name).history);
  app.get('/pipelines/:name/retry-tiers', async (request, reply) => send(reply, tiersFragment(await source.retryTiers(pipelineOf(request).name), Date.now())));
  app.get('/pipelines/:name/dead-letters', async (request, reply) => {
    const pipeline = pipelineOf(request);
    const query = request.query as Record<string, unknown>;
    const filter = filterOf(query);
    const index = await source.deadLetters(pipeline.name);
    const page = pageOf(index.entries, filter, Number(query.page ?? 1), DEFAULTS.consoleDeadLetterPage);
    return send(reply, deadLettersPage(context(), pipeline, index, filter, page, filterProblems(filter)));
  });
  app.get('/pipelines/:name/dead-letters/:topic/:partition/:offset', async (request, reply) => {
    const pipeline = pipelineOf(request);
    const { topic, partition, offset } = request.params as { topic: string; partition: string; offset: string };
    if (!/^\d+$/.test(partition) || !/^\d+$/.test(offset)) throw new CommandError('a dead letter is named by topic, partition and offset');
    const detail = await source.deadLetter(pipeline.name, topic, Number(partition), offset);
    if (!detail) return send(reply.code(404), errorPage(context(), 404, `no dead letter at ${topic}/${partition}/${offset} of pipeline '${pipeline.name}'`));
    return send(reply, deadLetterPage(context(), pipeline, detail, viewValue(detail.value, DEFAULTS.consoleValueLimit)));
  });

  app.post('/pipelines/:name/replay', async (request, reply) => {
    if (!options.allowReplay) return send(reply.code(403), errorFragment('replay is off: start the console with --allow-replay (and a token) to replay from it'));
    const pipeline = pipelineOf(request);
    const body = (request.body ?? {}) as Record<string, unknown>;
    const filters = ([] as unknown[]).concat(body.filter ?? []).filter((filter): filter is string => typeof filter === 'string');
    if (body.selection === 'true' && filters.length === 0) return send(reply.code(400), errorFragment('select at least one dead letter (nothing was replayed)'));
    const dryRun = body.dryRun !== 'false';
    const result = await source.replay(pipeline.name, { filters, dryRun, skipUnmatched: body.skipUnmatched === 'true' });
    options.logger.info({ pipeline: pipeline.name, filters, dryRun, replayed: result.replayed, scanned: result.scanned }, 'console replay');
    return send(reply, replayResultFragment(result, dryRun));
  });
  app.post('/pipelines/:name/audit', async (request, reply) => send(reply, auditFragment(await source.audit(pipelineOf(request).name))));

  await app.listen({ host: options.host, port: options.port });
  port = (app.server.address() as { port: number }).port;
  return {
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}/`,
    port,
    close: () => app.close(),
  };
}

function send(reply: FastifyReply, page: Html): FastifyReply {
  return reply.type('text/html; charset=utf-8').send(page.text);
}

function derive(token: string, purpose: string): string {
  return createHmac('sha256', token).update(`txstream-console-${purpose}`).digest('base64url');
}

/** Compares in constant time; absent never equals. */
function equal(given: string | undefined, expected: string | undefined): boolean {
  if (given === undefined || expected === undefined) return false;
  const a = createHmac('sha256', 'compare').update(given).digest();
  const b = createHmac('sha256', 'compare').update(expected).digest();
  return timingSafeEqual(a, b);
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function cookieOf(request: FastifyRequest): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === COOKIE) return rest.join('=');
  }
  return undefined;
}

/**
 * A POST must come from the console's own pages: a browser says where a request comes from in Origin (and
 * Sec-Fetch-Site); a cross-site one is refused. A client that sends neither (curl) is not a browser a page can
 * drive, and still needs the token.
 */
function sameOrigin(request: FastifyRequest): boolean {
  const site = header(request, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = header(request, 'origin');
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/**
 * The Host header must name this console: on loopback, a loopback name and its port (a page of another site
 * whose name was rebound to 127.0.0.1 sends its own name, and is refused); beyond loopback the token guards it.
 */
function hostAllowed(host: string | undefined, listen: string, port: number): boolean {
  if (!LOOPBACK.has(listen)) return true;
  if (host === undefined) return false;
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
  if (!match) return false;
  const name = (match[1] as string).replace(/^\[|\]$/g, '');
  return LOOPBACK.has(name) && (match[2] === undefined || Number(match[2]) === port);
}
