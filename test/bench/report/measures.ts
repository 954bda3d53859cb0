import { REFERENCE_CALIBRATION, slowdown } from '../calibrate';
import type { BenchResults } from '../results';
import { arrow, fmt2, fmtInt, fmtMiB, fmtMs, pair } from './format';

export type Row = readonly [label: string, value: string];

export interface Section {
  readonly title: string;
  readonly rows: readonly Row[];
}

/** The headline measures of each section that is present, in run order. */
export function measureSections(r: BenchResults): Section[] {
  const out: Section[] = [];
  const { sequential: seq, throughput: tp, cost, scaling, soak, calibration: cal } = r;
  if (cal) {
    const ref = REFERENCE_CALIBRATION;
    out.push({
      title: 'Machine',
      rows: [
        [
          `PostgreSQL commits/s, 1 client, before→after (peers': ${fmtInt(ref.pgCommitsPerS)})`,
          arrow(fmtInt(cal.before.pgCommitsPerS), fmtInt(cal.after.pgCommitsPerS)),
        ],
        [
          `JetStream publish+acks/s, 1 in flight, before→after (peers': ${fmtInt(ref.jetStreamPublishAcksPerS)})`,
          arrow(
            fmtInt(cal.before.jetStreamPublishAcksPerS),
            fmtInt(cal.after.jetStreamPublishAcksPerS),
          ),
        ],
        [
          "machine slower than at the peers' runs, before→after",
          arrow(`${fmt2(slowdown(cal.before))}×`, `${fmt2(slowdown(cal.after))}×`),
        ],
      ],
    });
  }
  if (seq) {
    out.push({
      title: 'Sequential',
      rows: [
        [
          'sequential run p50/p99 (ms)',
          pair(fmtMs(seq.runLatencyMs.p50), fmtMs(seq.runLatencyMs.p99)),
        ],
        [
          'step overhead p50/p99 (ms)',
          pair(fmtMs(seq.stepOverheadMs.p50), fmtMs(seq.stepOverheadMs.p99)),
        ],
        ...(seq.cpuMsPerStep === undefined
          ? []
          : [['sequential CPU ms per step (all processes)', fmt2(seq.cpuMsPerStep)] as const]),
      ],
    });
  }
  if (tp) {
    out.push({
      title: 'Throughput',
      rows: [
        ['throughput runs/s', fmtInt(tp.runsPerS)],
        ['steps/s', fmtInt(tp.stepsPerS)],
        [
          `run latency p50/p99 at ${tp.inFlight} in flight (ms)`,
          pair(fmtMs(tp.runLatencyMs.p50), fmtMs(tp.runLatencyMs.p99)),
        ],
        ['failed runs', fmtInt(tp.failedRuns)],
      ],
    });
  }
  if (cost) {
    out.push({
      title: 'Cost',
      rows: [
        ['CPU s per 1k steps', fmt2(cost.cpuSecondsPer1kSteps)],
        ...(cost.coresBusyByProcess ? [busiest(cost.coresBusyByProcess)] : []),
        ...Object.entries(cost.peakRssMiBByService).map(([svc, mib]): Row => [
          `peak RSS ${svc} (MiB)`,
          fmtMiB(mib),
        ]),
      ],
    });
  }
  if (scaling) {
    out.push({
      title: 'Scaling',
      rows: [
        ...scaling.results.map((s): Row => [
          `tool calls/s, ${s.replicas} replica${s.replicas === 1 ? '' : 's'}`,
          fmtInt(s.toolCallsPerS),
        ]),
        ['scaling speedup', `${fmt2(scaling.speedup)}×`],
      ],
    });
  }
  if (soak) {
    out.push({
      title: 'Soak',
      rows: [
        ['soak runs completed / failed', pair(fmtInt(soak.completedRuns), fmtInt(soak.failedRuns))],
        ...soak.services.flatMap((s): Row[] => [
          [
            `soak RSS ${s.service} start→mid→end (MiB)`,
            arrow(fmtMiB(s.rssStartMiB), fmtMiB(s.rssMidMiB), fmtMiB(s.rssEndMiB)),
          ],
          [
            `soak event-loop delay p99 ${s.service} start→end (ms)`,
            arrow(fmtMs(s.eventLoopDelayP99StartMs), fmtMs(s.eventLoopDelayP99EndMs)),
          ],
        ]),
      ],
    });
  }
  return out;
}

/** The process that kept a core busiest during (b): a single-threaded one near 1.00 is a ceiling. */
function busiest(cores: Readonly<Record<string, number>>): Row {
  const [name, busy] = Object.entries(cores).sort((a, b) => b[1] - a[1])[0] ?? ['-', 0];
  return ['busiest process during (b) (CPU cores)', `${name} ${fmt2(busy)}`];
}
