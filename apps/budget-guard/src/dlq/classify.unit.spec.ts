import { keelNames, runIdFor } from '@keel/contracts';
import { buildDeadLetter } from '@keel/messaging';
import { advisoryEntry, AdvisoryType, classifyDlqMessage, runIdOf, traceIdOf } from './classify';

const names = keelNames('keel');
const now = new Date('2030-01-01T00:00:00.000Z');
const enc = (s: string) => new TextEncoder().encode(s);

describe('classifyDlqMessage', () => {
  it('reads a dead letter, deriving the run id of a run request that has no header', () => {
    const request = { requestId: 'r-1', tenant: 'acme', input: { prompt: 'hi' } };
    const dl = buildDeadLetter(
      {
        consumer: 'planner-ingress',
        stream: 'KEEL_INGRESS',
        subject: 'keel.ingress.run-request',
        streamSequence: 3,
        deliveries: 2,
        data: enc(JSON.stringify(request)),
        headers: { 'Nats-Msg-Id': 'r-1' },
      },
      'HANDLER_FAILED',
      'Error: budget guard unreachable',
    );
    const c = classifyDlqMessage(
      {
        subject: 'keel.dlq.planner-ingress',
        data: enc(JSON.stringify(dl)),
        headers: {},
        dlqStreamSeq: 9,
      },
      names,
      now,
    );
    expect(c).toMatchObject({
      kind: 'entry',
      entry: {
        dlqStreamSeq: 9,
        kind: 'dead_letter',
        code: 'HANDLER_FAILED',
        streamSeq: 3,
        runId: runIdFor('acme', 'r-1'),
      },
    });
  });

  it('recognises advisories and calls anything else UNREADABLE', () => {
    const advisory = {
      type: AdvisoryType.maxDeliver,
      id: 'x',
      timestamp: '2030-01-01T00:00:00Z',
      stream: 'KEEL_EVENTS',
      consumer: 'tool-pool-default',
      stream_seq: 5,
      deliveries: 50,
    };
    const m = (data: string, subject = 'keel.dlq.c1') => ({
      subject,
      data: enc(data),
      headers: {},
      dlqStreamSeq: 1,
    });
    expect(classifyDlqMessage(m(JSON.stringify(advisory)), names, now)).toMatchObject({
      kind: 'advisory',
      advisory: { stream: 'KEEL_EVENTS', stream_seq: 5 },
    });
    expect(classifyDlqMessage(m('{oops'), names, now)).toMatchObject({
      kind: 'entry',
      entry: { code: 'UNREADABLE', consumer: 'c1', stream: null, deadLetteredAt: now },
    });
    expect(
      classifyDlqMessage(
        m('null', '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.KEEL_EVENTS.tool-pool-x'),
        names,
        now,
      ),
    ).toMatchObject({ entry: { code: 'UNREADABLE', consumer: 'tool-pool-x' } });
  });
});

describe('advisoryEntry', () => {
  it('records an advisory whose original is gone without a payload, saying so', () => {
    const e = advisoryEntry(
      7,
      {
        type: AdvisoryType.terminated,
        timestamp: 'not a date',
        stream: 'KEEL_INGRESS',
        consumer: 'planner-ingress',
        stream_seq: 4,
        deliveries: 1,
      },
      { found: false, why: 'the original message is no longer in KEEL_INGRESS' },
      names,
      now,
    );
    expect(e).toMatchObject({
      kind: 'terminated',
      code: 'TERMINATED',
      subject: null,
      payload: null,
      runId: null,
      deadLetteredAt: now,
    });
    expect(e.reason).toMatch(/no longer in KEEL_INGRESS$/);
  });
});

describe('runIdOf / traceIdOf', () => {
  it('prefer the header; derive only from a valid run request on the ingress', () => {
    const req = enc(JSON.stringify({ requestId: 'r', tenant: 'acme', input: { prompt: 'p' } }));
    expect(runIdOf('KEEL_EVENTS', { 'Keel-Run-Id': 'run-1' }, req, names)).toBe('run-1');
    expect(runIdOf('KEEL_INGRESS', {}, req, names)).toBe(runIdFor('acme', 'r'));
    expect(runIdOf('KEEL_EVENTS', {}, req, names)).toBeNull();
    expect(runIdOf('KEEL_INGRESS', {}, enc('{"tenant":"ACME!"}'), names)).toBeNull();
  });

  it('reads the trace id of a W3C traceparent', () => {
    expect(
      traceIdOf({ Traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }),
    ).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(traceIdOf({ traceparent: 'garbage' })).toBeNull();
    expect(traceIdOf({})).toBeNull();
  });
});
