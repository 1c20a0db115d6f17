/**
 * Saturation: a backlog of 50,000 records all due at once (shared-iterations), Avro values.
 *   npm run load -- run load-tests/scenarios/backlog.ts
 */
import { defineOptions } from '../lib/scenario.js';

export const options = defineOptions({
  scenarios: {
    backlog: { executor: 'shared-iterations', iterations: 50_000, vus: 1, maxDuration: '60s' },
  },
  thresholds: {
    throughput: ['rate>5000'],
    exactly_once: ['rate==1'],
  },
  workload: { recordBytes: 1024, keys: 10_000, keyDistribution: 'uniform', poisonRatio: 0.0005, format: 'avro' },
  worker: { strategy: 'transactional', batchSize: 1000, workers: 1, partitions: 3 },
});
