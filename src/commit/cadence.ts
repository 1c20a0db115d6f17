/**
 * When the shared transaction commits. Pure: times in, a delay out.
 *
 * Commits start `intervalMs` apart, counted from the start of the previous commit, so a record
 * waits for the next commit about half an interval on average whatever a commit takes. Counted
 * from the transaction's own start instead, every cycle was an interval plus the commit (and the
 * markers' wait of its first write), and so was a record's average wait: at 96 partitions a
 * commit took ~23 ms of each ~123 ms cycle, and the records written meanwhile waited for a full
 * interval more (load-tests README, "Commits on a cadence").
 *
 * A transaction stays open at least half an interval: where a commit takes longer than half an
 * interval (hundreds of partitions: its markers), the next transaction would otherwise carry only
 * what waited during the commit, and commits would take all the time. The first transaction, and
 * the first after a quiet spell, commit after that half: nothing is gained by holding its records.
 */
export function commitDelayMs(intervalMs: number, lastCommitStartedAt: number | undefined, now: number): number {
  const least = Math.ceil(intervalMs / 2);
  return lastCommitStartedAt === undefined ? least : Math.max(least, lastCommitStartedAt + intervalMs - now);
}
