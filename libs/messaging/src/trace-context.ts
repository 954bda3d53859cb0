import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { headers as natsHeaders, type MsgHdrs } from 'nats';
import { unsampledContext } from '@keel/telemetry';

/**
 * W3C trace context over NATS headers, by hand: there is no OpenTelemetry
 * auto-instrumentation for NATS. Whatever propagator is registered globally is
 * used (the OTel Node SDK registers W3C tracecontext + baggage by default);
 * with no propagator registered these are no-ops.
 */

const setter: TextMapSetter<MsgHdrs> = {
  set(carrier, key, value) {
    carrier.set(key, value);
  },
};

const getter: TextMapGetter<MsgHdrs | undefined> = {
  keys(carrier) {
    return carrier ? carrier.keys() : [];
  },
  get(carrier, key) {
    if (!carrier) return undefined;
    // Header names are matched case-insensitively: some clients canonicalise them. One pass
    // (nats.js's get(key, IgnoreCase) lists and lower-cases every key first). The first of a
    // repeated header wins, as in nats.js.
    const lower = key.toLowerCase();
    for (const [k, values] of carrier) {
      if (k === key || (k.length === key.length && k.toLowerCase() === lower)) {
        const value = values[0];
        return value === '' ? undefined : value;
      }
    }
    return undefined;
  },
};

/** Writes `traceparent` / `tracestate` (and baggage) for `ctx` (default: the active context) into `h`; returns `h`. */
export function injectTraceHeaders(
  h: MsgHdrs = natsHeaders(),
  ctx: Context = context.active(),
): MsgHdrs {
  propagation.inject(ctx, h, setter);
  return h;
}

/**
 * The remote context carried by a message's headers, on top of `base`
 * (default: the root context, so a consumer's span never inherits whatever
 * happened to be active in the pull loop). Missing or invalid headers give
 * `base` back. A context whose trace is not sampled comes back as unsampled
 * work (`unsampledContext`: no span, so nothing below it instruments).
 */
export function extractTraceContext(h: MsgHdrs | undefined, base: Context = ROOT_CONTEXT): Context {
  const traceparent = h ? getter.get(h, 'traceparent') : undefined;
  if (typeof traceparent === 'string' && !traceparentSampled(traceparent)) {
    const tracestate = getter.get(h, 'tracestate');
    return unsampledContext(
      base,
      traceparent,
      typeof tracestate === 'string' ? tracestate : undefined,
    );
  }
  return propagation.extract(base, h, getter);
}

/**
 * Whether a W3C `traceparent` has its sampled flag set. Under Keel's
 * parent-based sampler a span whose parent is not sampled is never recorded,
 * so a hot path may skip creating it (and parsing the context) altogether.
 * A malformed value counts as sampled: the caller then takes the normal path.
 */
export function traceparentSampled(traceparent: string): boolean {
  const flags = traceparent.split('-')[3];
  if (flags === undefined || !/^[0-9a-f]{2}$/.test(flags)) return true;
  return (parseInt(flags, 16) & 1) === 1;
}
