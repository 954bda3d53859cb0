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
        // heapTotal by V8 space. Old space *used* rising from sample to sample is retained data
        // (a leak); its size rising around a flat used is reserve. New space follows the
        // allocation rate; large objects are big buffers or strings.
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

function heapSpaces(mib: (n: number) => number) {
  const spaces = new Map(getHeapSpaceStatistics().map((s) => [s.space_name, s]));
  const size = (name: string) => spaces.get(name)?.space_size ?? 0;
  return {
    oldSpaceMiB: mib(size('old_space')),
    oldSpaceUsedMiB: mib(spaces.get('old_space')?.space_used_size ?? 0),
    newSpaceMiB: mib(size('new_space')),
    largeObjectMiB: mib(size('large_object_space') + size('new_large_object_space')),
  };
}
