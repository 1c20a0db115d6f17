import { Kafka, type KafkaConfig, type LogEntry, logLevel, Partitioners, type ProducerConfig } from 'kafkajs';
import type { Logger } from 'pino';

export interface ClientOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly logger: Logger;
  /** Passed through to KafkaJS (ssl, sasl, timeouts). */
  readonly kafka?: Omit<KafkaConfig, 'brokers' | 'clientId' | 'logCreator' | 'logLevel'>;
}

// KafkaJS logs every retried request at ERROR (a coordinator moving, a concurrent
// transaction still completing); txstream logs real failures itself, so these are warnings.
const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'warn',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

// Connection failures are reported by txstream itself, once, with what to check (BrokerUnreachableError);
// KafkaJS's line per retry says nothing more. The transactional producer's retries are bounded on
// purpose (a request that keeps failing aborts the transaction and its partitions rewind, which
// keeps exactly-once): KafkaJS's warning about it, once per producer, is not for the user.
const QUIET = /^(Connection error|Failed to connect to seed broker|Limiting retries for the idempotent producer)/;

/**
 * A KafkaJS client whose logs go through our pino logger, tagged `kafkajs`. Its producers use
 * KafkaJS 2's default partitioner, named explicitly: the same partitioning (murmur2, as the Java
 * client), without the warning KafkaJS prints for every client that leaves it implicit.
 */
export function createKafka(options: ClientOptions): Kafka {
  const kafkaLogger = options.logger.child({ component: 'kafkajs' });
  const kafka = new Kafka({
    ...options.kafka,
    brokers: [...options.brokers],
    clientId: options.clientId,
    // KafkaJS's INFO is chatty group membership.
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...rest } = log;
        kafkaLogger[QUIET.test(message) ? 'debug' : (LEVELS[level] ?? 'info')](rest, message);
      },
  });
  const producer = kafka.producer.bind(kafka);
  kafka.producer = (config?: ProducerConfig) => producer({ createPartitioner: Partitioners.DefaultPartitioner, ...config });
  return kafka;
}
