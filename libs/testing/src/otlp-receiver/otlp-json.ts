/**
 * Flattening of OTLP/JSON trace exports (`ExportTraceServiceRequest`) into one
 * record per span, which is what tests assert on.
 */

export type AttributeValue = string | number | boolean;

/** OTLP span kinds, as numbers on the wire. */
export const OtlpSpanKind = {
  unspecified: 0,
  internal: 1,
  server: 2,
  client: 3,
  producer: 4,
  consumer: 5,
} as const;

/** OTLP status codes: 0 unset, 1 ok, 2 error. */
export const OtlpStatusCode = { unset: 0, ok: 1, error: 2 } as const;

export interface ReceivedSpan {
  /** `service.name` of the exporting resource. */
  service: string;
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  /** See `OtlpSpanKind`. */
  kind: number;
  /** Arrays and maps are JSON-encoded strings; 64-bit ints become numbers. */
  attributes: Record<string, AttributeValue>;
  status: { code: number; message?: string };
  /** Instrumentation scope (e.g. `@opentelemetry/instrumentation-pg`). */
  scope: string;
  resource: Record<string, AttributeValue>;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
}

interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  bytesValue?: string;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
}
interface OtlpSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number;
  attributes?: OtlpKeyValue[];
  status?: { code?: number; message?: string };
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
}
interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: { scope?: { name?: string }; spans?: OtlpSpan[] }[];
  }[];
}

export class OtlpDecodeError extends Error {
  override name = 'OtlpDecodeError';
  readonly code = 'OTLP_DECODE';
}

export function flattenTraceExport(body: unknown): ReceivedSpan[] {
  if (typeof body !== 'object' || body === null)
    throw new OtlpDecodeError('OTLP export is not a JSON object');
  const out: ReceivedSpan[] = [];
  for (const rs of (body as OtlpExport).resourceSpans ?? []) {
    const resource = attributesOf(rs.resource?.attributes);
    const service =
      typeof resource['service.name'] === 'string' ? resource['service.name'] : 'unknown_service';
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        out.push({
          service,
          traceId: idOf(span.traceId, 16),
          spanId: idOf(span.spanId, 8),
          parentSpanId: idOf(span.parentSpanId, 8),
          name: span.name ?? '',
          kind: span.kind ?? 0,
          attributes: attributesOf(span.attributes),
          status: {
            code: span.status?.code ?? 0,
            ...(span.status?.message ? { message: span.status.message } : {}),
          },
          scope: ss.scope?.name ?? '',
          resource,
          startTimeUnixNano: String(span.startTimeUnixNano ?? ''),
          endTimeUnixNano: String(span.endTimeUnixNano ?? ''),
        });
      }
    }
  }
  return out;
}

function attributesOf(kvs: OtlpKeyValue[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of kvs ?? []) {
    const v = valueOf(kv.value);
    if (v !== undefined) out[kv.key] = v;
  }
  return out;
}

function valueOf(v: OtlpAnyValue | undefined): AttributeValue | undefined {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.bytesValue !== undefined) return v.bytesValue;
  if (v.arrayValue) return JSON.stringify((v.arrayValue.values ?? []).map(valueOf));
  if (v.kvlistValue) return JSON.stringify(attributesOf(v.kvlistValue.values));
  return undefined;
}

/**
 * OTLP/JSON carries ids as lowercase hex (the OTLP spec's exception to proto3
 * JSON); some encoders send base64 instead. Either way, hex comes out.
 */
function idOf(id: string | undefined, bytes: number): string {
  if (!id) return '';
  if (new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(id)) return id.toLowerCase();
  const decoded = Buffer.from(id, 'base64');
  return decoded.length === bytes ? decoded.toString('hex') : id;
}
