import type { KafkaMessage, Message } from 'kafkajs';
import { headersAsText } from '../kafka/headers.js';
import { HandlerContractError, OutputRejectedError } from '../errors/index.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import type { InputRecord, OutputRecord } from '../pipeline/records.js';
import { originOf, userHeaders } from '../routing/failure-copy.js';
import { encodeLineage, LINEAGE_HEADER } from '../pipeline/lineage.js';
import type { OutputProblem } from './output-check.js';

/**
 * Turns fetched messages into handler input and handler results into producer
 * messages (serialised, with the lineage header), grouped by topic.
 */

/**
 * The handler's view of a fetched record. A retry copy is presented as the
 * original record (its topic, partition, offset, timestamp) with its attempt.
 */
export function decodeRecord(pipeline: ResolvedPipeline, topic: string, partition: number, message: KafkaMessage): InputRecord {
  const fromRetryTopic = (pipeline.sourceOf(topic)?.tier ?? 0) > 0;
  const origin = originOf(topic, partition, message, fromRetryTopic);
  const where = { topic: origin.topic, partition: origin.partition, offset: origin.offset };
  return {
    ...where,
    key: message.key?.toString('utf8') ?? null,
    keyBytes: message.key ?? null,
    value: pipeline.inputSerde.decode(message.value ?? null, where),
    // On a retry copy the failure headers are txstream's bookkeeping: the handler sees (and
    // may forward) the record's own headers only.
    headers: headersAsText(fromRetryTopic ? userHeaders(message.headers) : message.headers),
    timestamp: Number(origin.timestamp),
    attempt: origin.attempt,
  };
}

export class OutputCollector {
  private readonly byTopic = new Map<string, Message[]>();
  /** Outputs collected (dead-letter copies excluded). */
  count = 0;

  constructor(
    private readonly pipeline: ResolvedPipeline,
    /** What the client and the cluster would refuse (see output-check); nothing is checked without it. */
    private readonly check: (topic: string, message: Message) => OutputProblem | undefined = () => undefined,
  ) {}

  /** Adds all of one input's outputs, or none of them when any is malformed. */
  addOutputs(source: InputRecord, outputs: readonly OutputRecord[]): void {
    const lineage = encodeLineage(source);
    const prepared = outputs.map((output) => {
      if (output === null || typeof output !== 'object' || !('value' in output)) {
        throw new HandlerContractError(`handler of pipeline '${this.pipeline.name}' returned a non-record for ${lineage}`);
      }
      const topic = output.topic ?? this.pipeline.output;
      if (!topic) {
        throw new HandlerContractError(
          `pipeline '${this.pipeline.name}' has no default output topic and an output of ${lineage} names none`,
        );
      }
      const message: Message = {
        key: output.key === undefined ? source.keyBytes : output.key,
        value: this.pipeline.outputSerde.encode(output.value),
        headers: { ...output.headers, [LINEAGE_HEADER]: lineage },
        ...(output.partition === undefined ? {} : { partition: output.partition }),
      };
      return { topic, message };
    });
    for (const { topic, message } of prepared) {
      const problem = this.check(topic, message);
      if (problem) {
        const { message: text, ...where } = problem;
        throw new OutputRejectedError(`output of ${lineage} rejected: ${text}`, where);
      }
    }
    for (const { topic, message } of prepared) this.add(topic, message);
  }

  /** A retry or dead-letter copy: written with the outputs, but not counted as one. */
  addFailureCopy(topic: string, message: Message): void {
    this.push(topic, message);
  }

  private add(topic: string, message: Message): void {
    this.push(topic, message);
    this.count++;
  }

  private push(topic: string, message: Message): void {
    const messages = this.byTopic.get(topic);
    if (messages) messages.push(message);
    else this.byTopic.set(topic, [message]);
  }

  topicMessages(): { topic: string; messages: Message[] }[] {
    return [...this.byTopic].map(([topic, messages]) => ({ topic, messages }));
  }
}
