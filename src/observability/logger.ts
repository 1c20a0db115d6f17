import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly level?: string;
  /** Human-readable lines (pino-pretty); JSON otherwise. Default: when stdout is a terminal. */
  readonly pretty?: boolean;
}

/** JSON logs by default; pretty in a terminal. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.TXSTREAM_LOG_LEVEL ?? 'info';
  const pretty = options.pretty ?? (process.stdout.isTTY === true && process.env.TXSTREAM_LOG_FORMAT !== 'json');
  return pino({
    name: 'txstream',
    level,
    redact: { paths: ['*.password', '*.sasl.password', '*.token', '*.ssl.key', 'sasl.password'], censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } } : {}),
  });
}
