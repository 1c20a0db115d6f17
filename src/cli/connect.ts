import type { Admin, Kafka } from 'kafkajs';
import type { WorkerSettings } from '../config/schema.js';
import { BrokerUnreachableError, KafkaSecurityError } from '../errors/index.js';
import { createKafka } from '../kafka/client.js';
import { createLogger } from '../observability/logger.js';
import { buildKafkaSecurity, describeConnectionFailure } from '../security/index.js';

/**
 * The Kafka client of a one-shot command (topics, status, lag, dlt): the same brokers and security
 * settings as `txstream run` (flags, env, config file or topics files), KafkaJS's own logging kept out
 * of the output, and a short connection budget so an absent broker is reported in seconds.
 */
export function commandKafka(settings: Pick<WorkerSettings, 'brokers' | 'clientId' | 'security'>, baseDir: string, purpose: string): Kafka {
  // TLS files are read and SASL checked before anything connects (a ConfigError).
  const { ssl, sasl } = buildKafkaSecurity(settings.security, { baseDir });
  return createKafka({
    brokers: settings.brokers,
    clientId: `${settings.clientId}-${purpose}`,
    // The command reports failures itself, in one line; KafkaJS's retries are not news.
    logger: createLogger({ level: process.env.TXSTREAM_LOG_LEVEL || 'silent' }),
    kafka: { ssl, sasl, connectionTimeout: 3000, retry: { retries: 3 } },
  });
}

/**
 * Connects an admin client, turning a connection failure into the one-line errors every command
 * prints the same way: BrokerUnreachableError or KafkaSecurityError (exit 1).
 */
export async function connectAdmin(kafka: Kafka, settings: Pick<WorkerSettings, 'brokers' | 'security'>): Promise<Admin> {
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (error) {
    throw connectionError(error, settings);
  }
  return admin;
}

export function connectionError(error: unknown, settings: Pick<WorkerSettings, 'brokers' | 'security'>): Error {
  const failure = describeConnectionFailure(error, { brokers: settings.brokers, sasl: settings.security?.sasl });
  return failure.kind === 'unreachable'
    ? new BrokerUnreachableError(settings.brokers, { cause: rootCause(error) })
    : new KafkaSecurityError(failure.message, failure.kind, { cause: error });
}

/** KafkaJS wraps the socket error in retries: the innermost message is the one a user can act on. */
function rootCause(error: unknown): unknown {
  let current = error;
  for (let depth = 0; depth < 5; depth++) {
    const next = (current as { originalError?: unknown; cause?: unknown } | undefined)?.originalError ?? (current as { cause?: unknown } | undefined)?.cause;
    if (!next) break;
    current = next;
  }
  return current;
}
