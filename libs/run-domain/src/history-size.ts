import type { HistoryEntry } from './run-state';

/** Serialised length of each history entry; entries are immutable and shared by successive states. */
const entryLengths = new WeakMap<HistoryEntry, number>();

/**
 * `JSON.stringify(history).length`, serialising each entry once in its life
 * instead of the whole history at every step (the reservation estimate asks
 * twice per step, and the history grows with the run).
 */
export function historyJsonLength(history: readonly HistoryEntry[]): number {
  let length = 2 + Math.max(0, history.length - 1); // brackets and commas
  for (const entry of history) {
    let n = entryLengths.get(entry);
    if (n === undefined) {
      n = JSON.stringify(entry).length;
      entryLengths.set(entry, n);
    }
    length += n;
  }
  return length;
}
