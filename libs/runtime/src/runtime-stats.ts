import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import type { Logger } from 'pino';

/**
 * Logs the process's memory and event-loop delay every `intervalMs`
 * (`"msg":"runtime stats"`), so a soak test can compare start and end.
 * Off when `intervalMs` is 0. The histogram restarts each interval.
 */
export function startRuntimeStats(logger: Logger, intervalMs: number): () => void {
  if (intervalMs <= 0) return () => undefined;
  // The histogram records the time between timer ticks (resolution + lag):
  // subtract the resolution to report the lag itself.
  const resolutionMs = 10;
  const eld = monitorEventLoopDelay({ resolution: resolutionMs });
  eld.enable();
  const mib = (n: number) => Math.round((n / 1048576) * 10) / 10;
  const ms = (ns: number) => Math.max(0, Math.round(ns / 1e4) / 100 - resolutionMs);
  const timer = setInterval(() => {
    const mem = process.memoryUsage();
    logger.info(
      {
        rssMiB: mib(mem.rss),
        heapUsedMiB: mib(mem.heapUsed),
        // RSS growing while heapUsed does not: the heap's reserve (heapTotal) or off-heap memory.
        heapTotalMiB: mib(mem.heapTotal),
        externalMiB: mib(mem.external),
        // heapTotal split by V8 space: which one grows (old space around a steady live set is
        // fragmentation; large objects are big buffers or strings; new space follows allocation rate).
        ...heapSpaces(mib),
        eventLoopDelayP50Ms: ms(eld.percentile(50)),
        eventLoopDelayP99Ms: ms(eld.percentile(99)),
        eventLoopDelayMaxMs: ms(eld.max),
      },
      'runtime stats',
    );
    eld.reset();
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    eld.disable();
  };
}

function heapSpaces(mib: (n: number) => number): {
  oldSpaceMiB: number;
  oldSpaceUsedMiB: number;
  newSpaceMiB: number;
  largeObjectMiB: number;
} {
  const size = { old: 0, oldUsed: 0, young: 0, large: 0 };
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_name === 'old_space') {
      size.old += s.space_size;
      size.oldUsed += s.space_used_size;
    } else if (s.space_name === 'new_space') size.young += s.space_size;
    else if (s.space_name === 'lo_space' || s.space_name === 'new_large_object_space')
      size.large += s.space_size;
  }
  return {
    oldSpaceMiB: mib(size.old),
    oldSpaceUsedMiB: mib(size.oldUsed),
    newSpaceMiB: mib(size.young),
    largeObjectMiB: mib(size.large),
  };
}
