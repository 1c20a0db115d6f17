import type { CommitStrategyName } from '../config/defaults.js';
import { autoStrategy, batchStrategy, perMessageStrategy } from './acknowledging.js';
import type { CommitStrategy, StrategyContext } from './strategy.js';
import { transactionalStrategy } from './transactional.js';

export type {
  CommitListener,
  CommitResult,
  CommitStrategy,
  CommitterContextFields,
  CommitUnit,
  GroupMembership,
  PartitionCommitter,
  StrategyContext,
  TopicPartition,
} from './strategy.js';
export { transactionalIdFor } from './strategy.js';

const FACTORIES: Record<CommitStrategyName, (context: StrategyContext) => CommitStrategy> = {
  transactional: transactionalStrategy,
  batch: batchStrategy,
  'per-message': perMessageStrategy,
  auto: autoStrategy,
};

export function createCommitStrategy(name: CommitStrategyName, context: StrategyContext): CommitStrategy {
  return FACTORIES[name](context);
}
