import { Agent as UndiciAgent, type Dispatcher } from 'undici';
import type { HeaderLookup } from './classify-model-error';

/**
 * The connections `postJson` shares: keep-alive, at most 256 per origin, no
 * pipelining (a slow completion must not hold up the ones queued behind it).
 * undici, driven through its handler API: under half the client CPU of
 * node:http per call (42–57 against 123–135 µs in a microbenchmark,
 * docs/performance.md).
 */
const dispatcher = new UndiciAgent({ connections: 256, pipelining: 1 });

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
  return new Promise((resolve, reject) => {
    let failed: PostJsonError | undefined;
    let abortRequest: ((err: Error) => void) | undefined;
    const fail = (reason: PostJsonError['reason'], cause?: unknown) => {
      if (failed) return;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      failed = new PostJsonError(reason, cause === undefined ? undefined : { cause });
      abortRequest?.(failed);
      reject(failed);
    };
    let status = 0;
    let rawHeaders: Buffer[] = [];
    const chunks: Buffer[] = [];
    const handler: Dispatcher.DispatchHandlers = {
      onConnect(abort) {
        abortRequest = abort;
        if (failed) abort(failed);
      },
      onHeaders(statusCode, headers) {
        status = statusCode;
        rawHeaders = headers;
        return true;
      },
      onData(chunk) {
        chunks.push(chunk);
        return true;
      },
      onComplete() {
        if (failed) return;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        resolve({
          status,
          headers: headerLookup(rawHeaders),
          text: Buffer.concat(chunks).toString('utf8'),
        });
      },
      onError(err) {
        fail('connection', err);
      },
    };
    const timer = setTimeout(() => fail('timeout'), opts.timeoutMs);
    const onAbort = () => fail('aborted');
    if (opts.signal?.aborted) return fail('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    dispatcher.dispatch(
      {
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'POST',
        headers: {
          ...opts.headers,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body,
        // The whole request has its own timer (above); undici's own are left off.
        headersTimeout: 0,
        bodyTimeout: 0,
      },
      handler,
    );
  });
}

/** Response headers as undici hands them (name, value, name, value …), looked up by name. */
function headerLookup(raw: readonly Buffer[]): HeaderLookup {
  return {
    get(name) {
      const wanted = name.toLowerCase();
      const values: string[] = [];
      for (let i = 0; i + 1 < raw.length; i += 2)
        if (raw[i]!.toString('latin1').toLowerCase() === wanted)
          values.push(raw[i + 1]!.toString('latin1'));
      return values.length > 0 ? values.join(', ') : undefined;
    },
  };
}
