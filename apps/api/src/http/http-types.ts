import type { IncomingMessage } from 'node:http';
import type { ApiPrincipal } from '@keel/projections/store';

/** What express adds to a request that the API reads (no @types/express in the workspace). */
export type HttpRequest = IncomingMessage & {
  body?: unknown;
  path: string;
  /** Set by `ApiKeyGuard` on every authenticated route. */
  principal?: ApiPrincipal;
};
