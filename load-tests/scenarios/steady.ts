/**
 * A steady open-model load with a ramp, k6 style:
 *   npm run load -- run load-tests/scenarios/steady.ts --out json=load-tests/results/raw/steady.ndjson
 */
import { defineOptions } from '../lib/scenario.js';

export const options = defineOptions({
  scenarios: {
    steady: { executor: 'constant-arrival-rate', rate: 2000, timeUnit: '1s', duration: '15s' },
    spike: { executor: 'ramping-arrival-rate', startTime: '5s', startRate: 0, timeUnit: '1s', stages: [{ target: 3000, duration: '3s' }, { target: 0, duration: '3s' }] },
  },
  thresholds: {
    throughput: ['rate>1500'],
    e2e_latency_ms: ['p(99)<1000', 'p(50)<250'],
    exactly_once: ['rate==1'],
    dead_lettered: ['count>0'],
  },
  workload: { recordBytes: 1024, keys: 1000, keyDistribution: 'zipf', poisonRatio: 0.001, format: 'json' },
  worker: { strategy: 'transactional', batchSize: 500, workers: 1, partitions: 3 },
});
