import type { Registry } from 'prom-client';
import { autoStrategy, batchStrategy, type CommitStrategy, perMessageStrategy, type StrategyContext, transactionalStrategy } from '../commit/index.js';
import type { CommitStrategyName } from '../config/defaults.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { postgresSinkStrategy } from '../sink/postgres/strategy.js';

type Factory = (pipeline: ResolvedPipeline, context: StrategyContext, registry: Registry) => CommitStrategy;

const FACTORIES: Record<CommitStrategyName | 'postgres', Factory> = {
  transactional: (_, context) => transactionalStrategy(context),
  batch: (_, context) => batchStrategy(context),
  'per-message': (_, context) => perMessageStrategy(context),
  auto: (_, context) => autoStrategy(context),
  postgres: postgresSinkStrategy,
};

/** The strategy a pipeline commits with: a sink pipeline commits in its database, whatever commit.strategy says. */
export function createCommitStrategy(pipeline: ResolvedPipeline, context: StrategyContext, registry: Registry): CommitStrategy {
  return FACTORIES[pipeline.sink ? 'postgres' : pipeline.commit.strategy](pipeline, context, registry);
}
