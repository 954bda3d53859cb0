import type { Distribution } from './results';

/** Summary statistics of a sample (nearest-rank percentiles). */
export function distribution(samples: readonly number[]): Distribution {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number) =>
    s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    count: s.length,
    min: round(s[0] ?? NaN),
    mean: round(s.reduce((a, b) => a + b, 0) / (s.length || 1)),
    p50: round(at(50)),
    p90: round(at(90)),
    p99: round(at(99)),
    max: round(s.at(-1) ?? NaN),
  };
}
