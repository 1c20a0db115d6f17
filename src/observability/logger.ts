import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly level?: string;
  /** Human-readable lines (pino-pretty); JSON otherwise. Default: when stdout is a terminal. */
  readonly pretty?: boolean;
  /** Where lines go (stdout by default); tests pass a stream to read them back. */
  readonly destination?: DestinationStream;
}

/**
 * Secrets that must never reach a log line, wherever they sit in a logged object:
 * SASL passwords, tokens, TLS keys, registry credentials.
 */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'sasl.password',
  '*.sasl.password',
  '*.*.sasl.password',
  'token',
  '*.token',
  '*.*.token',
  'ssl.key',
  '*.ssl.key',
  '*.*.ssl.key',
  '*.basicAuth',
  '*.*.basicAuth',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
];

/** JSON logs by default; pretty in a terminal. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? (process.env.TXSTREAM_LOG_LEVEL || 'info');
  const pretty =
    options.destination === undefined && (options.pretty ?? (process.stdout.isTTY === true && process.env.TXSTREAM_LOG_FORMAT !== 'json'));
  const settings = {
    name: 'txstream',
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } } : {}),
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
