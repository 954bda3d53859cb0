import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResults } from '../results';
import { renderMarkdown } from './render-markdown';
import { latencySvg, throughputSvg } from './render-svg';

/** `2026-11-21T06:30:00.000Z` → `2026-11-21T06-30-00Z`, safe in any file system. */
export function fileStamp(startedAt: string): string {
  const d = new Date(startedAt);
  const iso = Number.isNaN(d.getTime()) ? startedAt : d.toISOString().replace(/\.\d+Z$/, 'Z');
  const safe = iso.replace(/[^0-9A-Za-z_-]+/g, '-').replace(/^-+|-+$/g, '');
  return safe || 'bench';
}

export interface WrittenReport {
  readonly json: string;
  readonly markdown: string;
  /** The charts that had data: latency first, then throughput. */
  readonly svgs: string[];
}

/** Writes `<stamp>.json`, `<stamp>.md` and the SVG charts into `dir` (created if needed). */
export function writeReport(r: BenchResults, dir: string): WrittenReport {
  mkdirSync(dir, { recursive: true });
  const stamp = fileStamp(r.startedAt);
  const json = join(dir, `${stamp}.json`);
  writeFileSync(json, `${JSON.stringify(r, null, 2)}\n`);

  const svgs: string[] = [];
  const files: { latencySvgFile?: string; throughputSvgFile?: string } = {};
  const latency = latencySvg(r);
  if (latency !== undefined) {
    files.latencySvgFile = `${stamp}-latency.svg`;
    svgs.push(join(dir, files.latencySvgFile));
    writeFileSync(join(dir, files.latencySvgFile), latency);
  }
  const throughput = throughputSvg(r);
  if (throughput !== undefined) {
    files.throughputSvgFile = `${stamp}-throughput.svg`;
    svgs.push(join(dir, files.throughputSvgFile));
    writeFileSync(join(dir, files.throughputSvgFile), throughput);
  }

  const markdown = join(dir, `${stamp}.md`);
  writeFileSync(markdown, renderMarkdown(r, files));
  return { json, markdown, svgs };
}
