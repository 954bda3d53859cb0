import type { Pool } from 'pg';
import { RelayedEvent, runIdFor, uuidv7 } from '@keel/contracts';
import {
  appendMany,
  appendToStream,
  readAllIds,
  readAtPositionsJson,
  readAllRaw,
  START_CHECKPOINT,
  writtenJsonOf,
  type NewEvent,
} from '@keel/event-store';
import { relayedPayload, relayedPayloadFromJson } from './fast-publish';
import { headersForEvent } from './event-routing';
import { migratedSchema } from './int-test-support';
const decode = (bytes: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(bytes));

// The relay splices the stored JSON text into its payload instead of parsing and
// re-serialising it; consumers must not be able to tell the two apart.
describe('relayedPayloadFromJson (the relay reads JSON text)', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  beforeAll(async () => ({ pool, drop } = await migratedSchema('rp', 2)));
  afterAll(() => drop());

  it('gives the same event as the parsed row, for awkward data and metadata', async () => {
    const tenant = 'acme_tenant-1';
    const requestId = uuidv7();
    const runId = runIdFor(tenant, requestId);
    const event: NewEvent = {
      type: 'RunRequested',
      data: {
        runId,
        tenant,
        requestId,
        input: {
          prompt: 'Ünïcödé ✓ 😀, "quotes", back\\slash, tab\t, newline\n, \u0001 and </script>',
        },
        capability: { tools: ['weather'] },
        limits: {
          maxSteps: 5,
          maxToolCalls: 5,
          maxTokens: 10_000,
          deadlineAt: '2030-01-01T00:00:00.000Z',
        },
      },
      metadata: {
        eventId: uuidv7(),
        correlationId: runId,
        tenant,
        producer: 'runtime-test',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00',
        tracestate: 'vendor=a,other=b',
      },
    };
    const toolCall: NewEvent = {
      type: 'ToolCallRequested',
      data: {
        step: 1,
        callId: uuidv7(),
        tool: 'weather',
        pool: 'default',
        input: { list: [1, 2.5, -0.001, 1e21, true, null, { deep: ['x'] }], empty: {}, s: 'é"\\' },
        idempotencyKey: `${runId}:1:0`,
      },
      metadata: { ...event.metadata, eventId: uuidv7() },
    };
    const appended = await appendToStream(pool, `run:${runId}`, 0, [event, toolCall]);

    const raws = await readAllRaw(pool, START_CHECKPOINT, 10);
    // What the relay reads: ids in commit order, then the rows of the events it sends.
    const ids = await readAllIds(pool, START_CHECKPOINT, 10);
    expect(ids.map((e) => e.eventId)).toEqual([event.metadata.eventId, toolCall.metadata.eventId]);
    const jsons = await readAtPositionsJson(
      pool,
      ids.map((e) => e.globalPosition),
    );
    expect(raws).toHaveLength(2);
    expect(jsons).toHaveLength(2);
    [event, toolCall].forEach((written, i) => {
      const fromJson = decode(relayedPayloadFromJson(jsons[i]!));
      expect(fromJson).toEqual(decode(relayedPayload(raws[i]!)));
      expect(RelayedEvent.parse(fromJson).data).toEqual(written.data);
      // The writer's fast path splices the JSON its append wrote: the same event again.
      expect(writtenJsonOf(appended.records[i]!)).toBeDefined();
      expect(decode(relayedPayload(appended.records[i]!))).toEqual(fromJson);
    });
    expect(writtenJsonOf(raws[0]!)).toBeUndefined();

    // appendMany's records carry the JSON it wrote too.
    const more = { ...toolCall, metadata: { ...toolCall.metadata, eventId: uuidv7() } };
    const [many] = await appendMany(pool, [
      { streamId: `run:${runId}`, expectedVersion: 2, events: [more] },
    ]);
    if (!many || many instanceof Error) throw new Error(`appendMany failed: ${String(many)}`);
    const [stored] = await readAtPositionsJson(pool, [many.records[0]!.globalPosition]);
    expect(writtenJsonOf(many.records[0]!)).toBeDefined();
    expect(decode(relayedPayload(many.records[0]!))).toEqual(
      decode(relayedPayloadFromJson(stored!)),
    );
    const [raw, json] = [raws[0], jsons[0]];
    // What the relay routes and labels by comes from the same row.
    expect(json).toMatchObject({
      eventId: event.metadata.eventId,
      correlationId: runId,
      tenant,
      traceparent: event.metadata.traceparent,
      tracestate: event.metadata.tracestate,
      recordedAt: raw!.createdAt.toISOString(),
    });
    expect(
      headersForEvent({
        ...json!,
        data: undefined,
        metadata: { correlationId: json!.correlationId, tenant: json!.tenant },
      }),
    ).toEqual(headersForEvent(raw!));
  });
});
