/** A stored payload as an operator (or a script) wants to see it. */
export type DescribedPayload =
  | { bytes: number; encoding: 'json'; json: unknown; base64: string }
  | { bytes: number; encoding: 'utf8'; text: string; base64: string }
  | { bytes: number; encoding: 'binary'; base64: string };

/**
 * JSON when the bytes are UTF-8 JSON, text when they are UTF-8 at all,
 * otherwise only base64 (always included, so a script can get the exact bytes).
 */
export function describePayload(payload: Uint8Array): DescribedPayload {
  const base64 = Buffer.from(payload).toString('base64');
  const bytes = payload.byteLength;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    return { bytes, encoding: 'binary', base64 };
  }
  try {
    return { bytes, encoding: 'json', json: JSON.parse(text) as unknown, base64 };
  } catch {
    return { bytes, encoding: 'utf8', text, base64 };
  }
}
