import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors/index.js';

/**
 * Schema registry credentials have their own settings (HTTP basic auth): a URL with
 * `user:password@` in it ends up in error messages, logs and `ps`, so it is refused,
 * with a message that does not repeat it.
 */

export interface RegistryAuth {
  readonly username: string;
  readonly password: string;
}

/** What is wrong with a registry URL, never quoting it (it may hold a secret). */
export function registryUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL (expected http(s)://host:port[/path]; the value is not shown in case it holds a secret)';
  }
  if (parsed.username !== '' || parsed.password !== '') {
    return 'carries credentials (user:password@); the value is not shown. Set schemaRegistry.username and schemaRegistry.password (or passwordFile) in the topics files, or SCHEMA_REGISTRY_USERNAME with SCHEMA_REGISTRY_PASSWORD or SCHEMA_REGISTRY_PASSWORD_FILE';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `must be http or https, not ${parsed.protocol.replace(/:$/, '')}`;
  return undefined;
}

/** Throws a ConfigError naming `where` when the URL is unusable. */
export function assertRegistryUrl(url: string, where: string): void {
  const problem = registryUrlProblem(url);
  if (problem) throw new ConfigError(`schema registry URL ${problem}`, where);
}

export interface RegistryAuthSources {
  readonly username?: string;
  readonly password?: string;
  readonly passwordFile?: string;
}

/** The credentials from settings: a password or a file holding it, with a user name; none when no user name. */
export function registryAuthOf(sources: RegistryAuthSources, where: string): RegistryAuth | undefined {
  const { username, password, passwordFile } = sources;
  if (password !== undefined && passwordFile !== undefined) throw new ConfigError('give the schema registry password or a password file, not both', where);
  if (username === undefined || username === '') {
    if (password !== undefined || passwordFile !== undefined) throw new ConfigError('a schema registry password needs a user name too', where);
    return undefined;
  }
  let secret = password;
  if (passwordFile !== undefined) {
    try {
      secret = readFileSync(passwordFile, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(`cannot read the schema registry password file ${passwordFile}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, where);
    }
  }
  if (secret === undefined || secret === '') throw new ConfigError('the schema registry user name needs a password (or a password file)', where);
  return { username, password: secret };
}

export function basicAuthHeaders(auth: RegistryAuth | undefined): Record<string, string> {
  return auth ? { Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {};
}
