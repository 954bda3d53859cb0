import { Agent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { HeaderLookup } from './classify-model-error';

/** Keep-alive agents shared by every model client of the process. */
export const keepAliveAgents = {
  http: new Agent({ keepAlive: true, maxSockets: 256 }),
  https: new HttpsAgent({ keepAlive: true, maxSockets: 256 }),
};

export interface JsonResponse {
  readonly status: number;
  readonly headers: HeaderLookup;
  /** The body as text (empty when there was none); parsing is the caller's, so it can classify. */
  readonly text: string;
}

/** The transport failed before a whole answer arrived: why, for the caller's classification. */
export class PostJsonError extends Error {
  constructor(
    readonly reason: 'timeout' | 'aborted' | 'connection',
    options?: { cause?: unknown },
  ) {
    super(`request failed (${reason})`, options);
    this.name = 'PostJsonError';
  }
}

export interface PostJsonOptions {
  readonly headers: Record<string, string>;
  /** Whole request, until the last byte of the answer; the request is destroyed after it. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
}

/**
 * POST a JSON body over a keep-alive connection and buffer the answer. The
 * whole client for OpenAI-compatible chat completions: no SDK request
 * building, no WHATWG `Headers`/`Response`/streams, no retries (Keel's policy
 * decides). Resolves for every HTTP status; rejects only with `PostJsonError`.
 */
export function postJson(url: URL, body: string, opts: PostJsonOptions): Promise<JsonResponse> {
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    let failed: PostJsonError | undefined;
    const fail = (reason: PostJsonError['reason'], cause?: unknown) => {
      if (failed) return;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      failed = new PostJsonError(reason, cause === undefined ? undefined : { cause });
      req.destroy();
      reject(failed);
    };
    const req = (secure ? httpsRequest : httpRequest)(
      url,
      {
        method: 'POST',
        agent: secure ? keepAliveAgents.https : keepAliveAgents.http,
        headers: {
          ...opts.headers,
          'content-type': 'application/json',
          accept: 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => fail('connection', err));
        res.on('end', () => {
          if (failed) return;
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
          const raw = res.headers;
          resolve({
            status: res.statusCode ?? 500,
            headers: { get: (name) => headerValue(raw[name.toLowerCase()]) },
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    const timer = setTimeout(() => fail('timeout'), opts.timeoutMs);
    const onAbort = () => fail('aborted');
    req.on('error', (err) => fail('connection', err));
    if (opts.signal?.aborted) return fail('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body);
  });
}

const headerValue = (v: string | string[] | undefined): string | undefined =>
  Array.isArray(v) ? v.join(', ') : v;
