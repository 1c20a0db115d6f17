/**
 * Broker versions the local launcher knows. KAFKA_VERSION may name an exact
 * version or a line ("3.9", "4", "4.x"); lines resolve to the pins below.
 */
export const DEFAULT_KAFKA_VERSION = '3.9.2';

const LINE_PINS: Readonly<Record<string, string>> = {
  '3.9': '3.9.2',
  '3': '3.9.2',
  '3.x': '3.9.2',
  '4': '4.1.2',
  '4.x': '4.1.2',
  '4.1': '4.1.2',
};

export interface KafkaVersion {
  readonly version: string;
  readonly major: number;
  /** Kafka 4 logs with log4j2; 3.x with reload4j (log4j 1 API). */
  readonly logging: 'log4j1' | 'log4j2';
}

export function resolveKafkaVersion(requested: string | undefined): KafkaVersion {
  const raw = (requested ?? '').trim() || DEFAULT_KAFKA_VERSION;
  const version = LINE_PINS[raw] ?? raw;
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  if (!match) {
    throw new Error(
      `KAFKA_VERSION '${raw}' is not a Kafka version: use an exact version like 3.9.2 or 4.1.1, or a line: ${Object.keys(LINE_PINS).join(', ')}`,
    );
  }
  const major = Number(match[1]);
  if (major < 3) throw new Error(`KAFKA_VERSION '${raw}': the local launcher runs KRaft brokers, which need Kafka 3.3 or later`);
  return { version, major, logging: major >= 4 ? 'log4j2' : 'log4j1' };
}
