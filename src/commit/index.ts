export { autoStrategy, batchStrategy, perMessageStrategy } from './acknowledging.js';
export { transactionalStrategy } from './transactional.js';

export type {
  CommitListener,
  CommitResult,
  CommitStrategy,
  CommitUnit,
  GroupMembership,
  PartitionCommitter,
  StrategyContext,
  TopicMessages,
  TopicPartition,
} from './strategy.js';
export { noneConsumedBefore, transactionalIdFor, unscopedHandlerCall } from './strategy.js';
