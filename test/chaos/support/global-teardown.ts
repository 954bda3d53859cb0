import { formatSummary, readSummary } from './summary';

/** Prints the scenarios this jest run recorded as one table (`npm run test:chaos`). */
export default function chaosGlobalTeardown(): void {
  const rows = readSummary(process.pid);
  if (rows.length === 0) return;
  process.stdout.write(`\nChaos summary (${rows.length} scenario(s)):\n${formatSummary(rows)}\n`);
}
