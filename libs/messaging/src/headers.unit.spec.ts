import { propagation, trace } from '@opentelemetry/api';
import { isUnsampled, KeelPropagator } from '@keel/telemetry';
import { headers as natsHeaders, MsgHdrsImpl, type MsgHdrs } from 'nats';
import { headersOf, headersToRecord } from './headers';
import { extractTraceContext, injectTraceHeaders } from './trace-context';

const encoded = (h: MsgHdrs) => new TextDecoder().decode((h as MsgHdrsImpl).encode());

describe('headersOf', () => {
  it('encodes exactly what headers().set() would, key for key', () => {
    const record = {
      'Keel-Run-Id': '6f18b72a-47fa-5ad2-a6e1-06071e25012e',
      'Keel-Stream-Id': 'toolcall:9679d277-7007-5c5f-b1b9-40a29291d7bd',
      'Nats-Msg-Id': '01a201fb-4524-79ec-b183-c2e29bc8da63',
      traceparent: '00-91304de42650c88e044b0166fb9365b3-93053bfcf0374e02-00',
    };
    const slow = natsHeaders();
    for (const [k, v] of Object.entries(record)) slow.set(k, v);
    const fast = headersOf(record);
    expect(encoded(fast)).toBe(encoded(slow));
    expect(fast.get('traceparent')).toBe(record.traceparent);
    // Still ordinary nats.js headers: the trace context can be set on top.
    fast.set('tracestate', 'a=b');
    expect(fast.get('tracestate')).toBe('a=b');
  });

  it('refuses a value that would end the header block, as nats.js does', () => {
    expect(() => headersOf({ 'Keel-Tenant': 'acme\r\nNats-Msg-Id: forged' })).toThrow(
      /invalid header value/,
    );
  });
});

describe('headersToRecord', () => {
  it('keeps the last value of a repeated header', () => {
    const h = natsHeaders();
    h.append('A', '1');
    h.append('A', '2');
    h.set('B', '3');
    expect(headersToRecord(h)).toEqual({ A: '2', B: '3' });
    expect(headersToRecord(undefined)).toEqual({});
  });
});

describe('extractTraceContext', () => {
  beforeAll(() => propagation.setGlobalPropagator(new KeelPropagator()));
  afterAll(() => propagation.disable());

  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const carried = (flags: string, name: string) =>
    MsgHdrsImpl.fromRecord({
      'Keel-Run-Id': ['r'],
      [name]: [`00-${traceId}-b7ad6b7169203331-${flags}`],
      TraceState: ['vendor=a'],
    });

  it('finds the trace context whatever the case of the header names', () => {
    for (const name of ['traceparent', 'Traceparent', 'TRACEPARENT']) {
      const sampled = extractTraceContext(carried('01', name));
      expect(trace.getSpanContext(sampled)).toMatchObject({ traceId, traceFlags: 1 });
      expect(trace.getSpanContext(sampled)?.traceState?.get('vendor')).toBe('a');

      // Not sampled: no span, the context rides along as it came.
      const unsampled = extractTraceContext(carried('00', name));
      expect(isUnsampled(unsampled)).toBe(true);
      const out = injectTraceHeaders(natsHeaders(), unsampled);
      expect(out.get('traceparent')).toBe(`00-${traceId}-b7ad6b7169203331-00`);
      expect(out.get('tracestate')).toBe('vendor=a');
    }
    expect(trace.getSpanContext(extractTraceContext(natsHeaders()))).toBeUndefined();
    expect(isUnsampled(extractTraceContext(natsHeaders()))).toBe(false);
  });
});
