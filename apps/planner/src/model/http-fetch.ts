import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** Keep-alive agents shared by every Anthropic client of the process. */
const agents = {
  http: new HttpAgent({ keepAlive: true, maxSockets: 256 }),
  https: new HttpsAgent({ keepAlive: true, maxSockets: 256 }),
};

/**
 * A small `fetch` for the Anthropic SDK over node:http with keep-alive agents.
 * The SDK takes a custom fetch; this one skips the WHATWG streams machinery of
 * Node's built-in fetch (undici), which costs more CPU per call than the rest
 * of a model step. Bodies are buffered: Keel does not stream completions.
 * Aborts (the SDK's timeout) destroy the request.
 */
export function keepAliveFetch(
  input: string | URL | Request,
  init: RequestInit = {},
): Promise<Response> {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  const secure = url.protocol === 'https:';
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((v, k) => (headers[k] = v));
  if (init.body != null && typeof init.body !== 'string') {
    return Promise.reject(new TypeError('keepAliveFetch sends string bodies only (JSON)'));
  }
  const body = init.body ?? undefined;
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  return new Promise((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(
      url,
      { method: init.method ?? 'GET', headers, agent: secure ? agents.https : agents.http },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          const status = res.statusCode ?? 500;
          const nullBody = status === 204 || status === 304;
          resolve(
            new Response(nullBody ? null : Buffer.concat(chunks), {
              status,
              statusText: res.statusMessage ?? '',
              headers: h,
            }),
          );
        });
      },
    );
    const signal = init.signal;
    if (signal) {
      if (signal.aborted) req.destroy(abortError());
      signal.addEventListener('abort', () => req.destroy(abortError()), { once: true });
    }
    req.on('error', reject);
    req.end(body);
  });
}

/** What a spec-compliant fetch rejects with on abort (the SDKs recognise it by name). */
function abortError(): Error {
  const err = new Error('The operation was aborted.');
  err.name = 'AbortError';
  return err;
}
