import type { IHeaders, Message } from 'kafkajs';
import { HandlerContractError, OutputRejectedError } from '../errors/index.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import type { InputRecord, OutputRecord } from '../pipeline/records.js';
import { encodeLineage, LINEAGE_HEADER } from '../pipeline/lineage.js';
import type { OutputProblem } from './output-check.js';

/**
 * A unit's outputs until it is written: handler results turned into producer messages
 * (serialised, with the lineage header) and retry or dead-letter copies, grouped by topic.
 */
export class OutputBuffer {
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
    if (outputs.length === 1) {
      // Most handlers return one output per record: no arrays for it.
      const { topic, message } = this.prepare(source, outputs[0] as OutputRecord, lineage);
      this.checkOrThrow(topic, message, lineage);
      this.add(topic, message);
      return;
    }
    const prepared = outputs.map((output) => this.prepare(source, output, lineage));
    for (const { topic, message } of prepared) this.checkOrThrow(topic, message, lineage);
    for (const { topic, message } of prepared) this.add(topic, message);
  }

  /** An output as the producer message that carries it (serialised, with the lineage header). */
  private prepare(source: InputRecord, output: OutputRecord, lineage: string): { topic: string; message: Message } {
    if (output === null || typeof output !== 'object' || !('value' in output)) {
      throw new HandlerContractError(`handler of pipeline '${this.pipeline.name}' returned a non-record for ${lineage}`);
    }
    const topic = output.topic ?? this.pipeline.output;
    if (!topic) {
      throw new HandlerContractError(`pipeline '${this.pipeline.name}' has no default output topic and an output of ${lineage} names none`);
    }
    // Built field by field: an object literal with a spread takes V8's slow path, once per output.
    const headers: IHeaders = output.headers === undefined ? {} : { ...output.headers };
    headers[LINEAGE_HEADER] = lineage;
    const message: Message = { key: output.key === undefined ? source.keyBytes : output.key, value: this.pipeline.outputSerde.encode(output.value), headers };
    if (output.partition !== undefined) message.partition = output.partition;
    return { topic, message };
  }

  private checkOrThrow(topic: string, message: Message, lineage: string): void {
    const problem = this.check(topic, message);
    if (problem) {
      const { message: text, ...where } = problem;
      throw new OutputRejectedError(`output of ${lineage} rejected: ${text}`, where);
    }
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
