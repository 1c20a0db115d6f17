/**
 * The order of the fixed-load latency runs at one partition count. The machine gets busier as a
 * round goes on (2026-12-07i: load 2.5 at the first 96-partition run, 5.3 two runs later), so the
 * run that goes first in a pair is measured on the quieter machine. Every contender runs at each
 * offered load in turn, in the given order at one (load, partition count) step and reversed at the
 * next: across the loads and partition counts each side of a pair, and each pair, goes first as
 * often as the other.
 */
export function latencyRunOrder<C>(contenders: readonly C[], rates: readonly number[], partitionStep: number): Array<{ contender: C; rate: number }> {
  return rates.flatMap((rate, rateStep) => {
    const order = (rateStep + partitionStep) % 2 === 0 ? contenders : [...contenders].reverse();
    return order.map((contender) => ({ contender, rate }));
  });
}
