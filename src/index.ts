/** txstream's public API. */
export type { CommitStrategyName } from './config/defaults.js';
export { COMMIT_STRATEGIES, DEFAULTS } from './config/defaults.js';
export type { ErrorPolicyInput as ErrorPolicy } from './config/error-policy.js';
export type { PostgresSinkOptions, SinkDefinition } from './config/postgres-sink.js';
export type { CommitSettings } from './config/schema.js';
export { BrokerUnreachableError, ConfigError, DecodeError, NonRetryableError, nonRetryable, OutputRejectedError, ProducerFencedError } from './errors/index.js';
export type { PipelineDefinition } from './pipeline/definition.js';
export { definePipeline } from './pipeline/definition.js';
export { LINEAGE_HEADER, parseLineage } from './pipeline/lineage.js';
export type { Handler, HandlerContext, HandlerResult, InputRecord, OnceFn, OutputRecord, SinkClient, SinkQueryResult } from './pipeline/records.js';
export { defineHandler, sinkContext } from './pipeline/records.js';
export { FAILURE_HEADERS, REPLAY_HEADERS } from './routing/failure-headers.js';
export { SinkStatementError } from './sink/postgres/statement-errors.js';
export type { Serde } from './serde/index.js';
export { bytesSerde, jsonSerde, stringSerde } from './serde/index.js';
export type { StopResult, WorkerOptions, WorkerState } from './worker/worker.js';
export { createWorker, Worker } from './worker/worker.js';
