import type { Msg } from 'nats';

/**
 * nats.js (2.29) keeps a message's header block undecoded until `headers` is
 * read: `_rdata` holds the bytes, `_msg.hdr` how many of them are headers.
 * Reading `headers` decodes and validates every header of the block.
 */
interface RawMsg {
  readonly _rdata?: Uint8Array;
  readonly _msg?: { readonly hdr?: number };
}

/** The undecoded header block (`NATS/1.0…\r\n\r\n`), or undefined without headers or internals. */
function headerBlock(m: Msg): string | undefined {
  const raw = m as unknown as RawMsg;
  const hdr = raw._msg?.hdr;
  if (raw._rdata === undefined || hdr === undefined) return undefined;
  if (hdr <= 0) return '';
  return Buffer.from(raw._rdata.buffer, raw._rdata.byteOffset, hdr).toString('latin1');
}

/** Whether `m` exposes its raw header block (nats.js internals as of 2.29). */
export function hasRawHeaders(m: Msg): boolean {
  return headerBlock(m) !== undefined;
}

/**
 * One header's value (the first, matched case-insensitively) read from the
 * raw block without decoding the others: for a hot loop that needs one header
 * of many (the relay's event ids). Falls back to `m.headers` if nats.js
 * changes its internals. Values are read as latin1: meant for ASCII ids.
 */
export function rawHeaderValue(m: Msg, name: string): string | undefined {
  const block = headerBlock(m);
  if (block === undefined) return m.headers?.get(name) || undefined;
  const lower = name.toLowerCase();
  let at = block.indexOf('\r\n');
  while (at >= 0 && at + 2 < block.length) {
    const end = block.indexOf('\r\n', at + 2);
    const line = block.slice(at + 2, end < 0 ? block.length : end);
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === lower) {
      return line.slice(colon + 1).trim();
    }
    at = end;
  }
  return undefined;
}

/**
 * The status code of a status message (`NATS/1.0 404 No Messages`), 0 for an
 * ordinary message, read from the block's first line without decoding the rest.
 */
export function rawStatusCode(m: Msg): number {
  const block = headerBlock(m);
  if (block === undefined) return m.headers?.code ?? 0;
  if (block.length < 12 || block.charCodeAt(8) !== 32 /* ' ' */) return 0;
  const code = Number(block.slice(9, 12));
  return Number.isInteger(code) ? code : 0;
}
