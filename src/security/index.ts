import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { inspect } from 'node:util';
import { isAbsolute, resolve } from 'node:path';
import type { SASLOptions } from 'kafkajs';
import type { SecuritySettings } from '../config/schema.js';
import { ConfigError } from '../errors/index.js';

export type SecurityProtocol = 'plaintext' | 'ssl' | 'sasl_plaintext' | 'sasl_ssl';

/** What KafkaJS takes for TLS and SASL: spread into `new Kafka({ ...options })`. */
export interface KafkaSecurityOptions {
  readonly ssl?: ConnectionOptions | boolean;
  readonly sasl?: SASLOptions;
}

export interface BuildSecurityOptions {
  /** Relative file paths resolve against this folder (the config file's). Default: the working directory. */
  readonly baseDir?: string;
  /** Reads a file; tests pass their own. */
  readonly readFile?: (path: string) => string;
}

const REDACTED = '[redacted]';

/** The protocol in effect: the one set, or the one the given sasl and ssl settings imply. */
export function securityProtocolOf(security: SecuritySettings | undefined): SecurityProtocol {
  if (security?.protocol) return security.protocol;
  if (security?.sasl) return security.ssl ? 'sasl_ssl' : 'sasl_plaintext';
  return security?.ssl ? 'ssl' : 'plaintext';
}

/**
 * Turns the `security` settings into KafkaJS's `ssl` and `sasl` options: checks
 * that they fit together, reads the CA, certificate and key files, and reports
 * every problem at once in a ConfigError naming the setting and the file. Secrets
 * in the result (the SASL password, the private key) are hidden from
 * JSON.stringify, pino and util.inspect, while KafkaJS still reads them.
 */
export function buildKafkaSecurity(security: SecuritySettings | undefined, options: BuildSecurityOptions = {}): KafkaSecurityOptions {
  const protocol = securityProtocolOf(security);
  const usesSasl = protocol === 'sasl_plaintext' || protocol === 'sasl_ssl';
  const usesTls = protocol === 'ssl' || protocol === 'sasl_ssl';
  const problems: string[] = [];
  if (usesSasl && !security?.sasl) {
    problems.push(
      `security.protocol ${protocol} needs security.sasl: set mechanism, username and password (TXSTREAM_SASL_MECHANISM, TXSTREAM_SASL_USERNAME, TXSTREAM_SASL_PASSWORD)`,
    );
  }
  if (!usesSasl && security?.sasl) {
    problems.push(`security.sasl is set but security.protocol is ${protocol}: use sasl_plaintext or sasl_ssl, or remove security.sasl`);
  }
  if (!usesTls && security?.ssl) {
    problems.push(`security.ssl is set but security.protocol is ${protocol}: use ssl or sasl_ssl, or remove security.ssl`);
  }
  const ssl = security?.ssl;
  if (ssl && (ssl.certFile === undefined) !== (ssl.keyFile === undefined)) {
    problems.push('security.ssl.certFile and security.ssl.keyFile go together: set both for mutual TLS, or neither');
  }

  const read = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  const baseDir = options.baseDir ?? process.cwd();
  const pem = (setting: string, file: string | undefined, kind: 'CERTIFICATE' | 'PRIVATE KEY'): string | undefined => {
    if (file === undefined) return undefined;
    const path = isAbsolute(file) ? file : resolve(baseDir, file);
    let text: string;
    try {
      text = read(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? (error as Error).message);
      problems.push(`security.ssl.${setting}: cannot read ${path} (${why})`);
      return undefined;
    }
    const found = kind === 'CERTIFICATE' ? /-----BEGIN CERTIFICATE-----/.test(text) : /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
    if (!found) problems.push(`security.ssl.${setting}: ${path} holds no PEM ${kind.toLowerCase()} (-----BEGIN ${kind}-----)`);
    return text;
  };
  const ca = pem('caFile', ssl?.caFile, 'CERTIFICATE');
  const cert = pem('certFile', ssl?.certFile, 'CERTIFICATE');
  const key = pem('keyFile', ssl?.keyFile, 'PRIVATE KEY');
  if (problems.length > 0) throw new ConfigError(`invalid security settings:\n  - ${problems.join('\n  - ')}`);

  const result: { ssl?: ConnectionOptions | boolean; sasl?: SASLOptions } = {};
  if (usesTls) {
    const tls: ConnectionOptions = {};
    if (ca !== undefined) tls.ca = [ca];
    if (cert !== undefined) tls.cert = cert;
    if (key !== undefined) {
      tls.key = key;
      redactOnDisplay(tls, 'key');
    }
    if (ssl?.rejectUnauthorized !== undefined) tls.rejectUnauthorized = ssl.rejectUnauthorized;
    result.ssl = Object.keys(tls).length > 0 ? tls : true;
  }
  if (usesSasl && security?.sasl) {
    const { mechanism, username, password } = security.sasl;
    const sasl = { mechanism, username } as SASLOptions & { password: string };
    hidePassword(sasl, password);
    result.sasl = sasl;
  }
  return result;
}

/**
 * Describes the security settings for logs and dumps: the protocol, mechanism,
 * user and files, never the password or key.
 */
export function describeSecurity(security: SecuritySettings | undefined): Record<string, unknown> {
  const protocol = securityProtocolOf(security);
  return {
    protocol,
    ...(security?.sasl ? { sasl: { mechanism: security.sasl.mechanism, username: security.sasl.username, password: REDACTED } } : {}),
    ...(security?.ssl ? { ssl: { ...security.ssl } } : {}),
  };
}

/**
 * The SASL password is a property that reads as usual but is not enumerable, so
 * JSON.stringify, pino and object spreads leave it out; util.inspect shows it redacted.
 */
function hidePassword(target: object, value: string): void {
  Object.defineProperty(target, 'password', { value, enumerable: false, writable: false, configurable: false });
  redactOnDisplay(target, 'password');
}

/**
 * The private key must stay enumerable (KafkaJS copies the TLS options with
 * Object.assign before tls.connect), so it is redacted when serialised or inspected.
 */
function redactOnDisplay(target: object, property: string): void {
  const redacted = function (this: Record<string, unknown>) {
    const copy: Record<string, unknown> = { ...this };
    if (property in this) copy[property] = REDACTED;
    return copy;
  };
  Object.defineProperty(target, 'toJSON', { value: redacted, enumerable: false });
  Object.defineProperty(target, inspect.custom, { value: redacted, enumerable: false });
}

export type ConnectionFailureKind = 'authentication' | 'tls' | 'client-certificate' | 'unreachable';

/**
 * Tells why a first connection failed, in one line that names the setting to
 * check, for errors KafkaJS gives when the brokers reject the SASL credentials
 * or the TLS handshake fails. Never includes a secret: KafkaJS's messages hold
 * the mechanism and the broker's reason, not the password.
 */
export function describeConnectionFailure(
  error: unknown,
  context: { readonly brokers: readonly string[]; readonly sasl?: { readonly mechanism: string; readonly username?: string } },
): { kind: ConnectionFailureKind; message: string } {
  const chain: Array<{ name?: string; message?: string }> = [];
  for (let current: unknown = error; current && typeof current === 'object' && chain.length < 5; ) {
    const link = current as { name?: string; message?: string; originalError?: unknown; cause?: unknown };
    chain.push(link);
    current = link.originalError ?? link.cause;
  }
  const reason = (chain.at(-1)?.message ?? String(error)).replace(/^Connection error: /, '');
  const at = `Kafka at ${context.brokers.join(',')}`;
  if (chain.some((link) => link.name === 'KafkaJSSASLAuthenticationError')) {
    const who = context.sasl ? ` of user '${context.sasl.username ?? ''}' (${context.sasl.mechanism.toUpperCase()})` : '';
    return {
      kind: 'authentication',
      message: `${at} rejected the SASL credentials${who}: ${reason}; check security.sasl (TXSTREAM_SASL_USERNAME, TXSTREAM_SASL_PASSWORD)`,
    };
  }
  if (/alert (bad|unknown) certificate|alert certificate required|certificate required/i.test(reason)) {
    return {
      kind: 'client-certificate',
      message: `${at} refused the TLS client certificate (${reason}); check security.ssl.certFile and security.ssl.keyFile (TXSTREAM_SSL_CERT_FILE, TXSTREAM_SSL_KEY_FILE)`,
    };
  }
  if (/certificate|self[- ]signed|unable to verify|CERT_|altname|SSL routines|wrong version number|handshake/i.test(reason)) {
    return {
      kind: 'tls',
      message: `TLS handshake with ${at} failed: ${reason}; check security.ssl.caFile (TXSTREAM_SSL_CA_FILE): it must hold the CA that signed the brokers' certificates`,
    };
  }
  return { kind: 'unreachable', message: `cannot reach ${at}: ${reason}` };
}
