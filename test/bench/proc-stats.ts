import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** CPU time (user + system) of a process in seconds, from /proc/<pid>/stat; 0 if it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11] = utime, fields[12] = stime (clock ticks; 100 per second on Linux)
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Peak resident set size of a process in MiB (VmHWM). */
export function peakRssMiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : 0;
  } catch {
    return 0;
  }
}

/** Pids of processes matching `pgrep` arguments (empty when none). */
export function pgrep(...args: string[]): number[] {
  try {
    return execFileSync('pgrep', args, { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds per named group of pids. PostgreSQL and NATS are found by name. */
export function cpuSnapshot(services: ReadonlyMap<string, number>): Record<string, number> {
  const snap: Record<string, number> = {};
  for (const [name, pid] of services) snap[name] = cpuSeconds(pid);
  snap['nats-server'] = pgrep('-x', 'nats-server').reduce((a, p) => a + cpuSeconds(p), 0);
  snap['postgres'] = pgrep('-x', 'postgres').reduce((a, p) => a + cpuSeconds(p), 0);
  return snap;
}
