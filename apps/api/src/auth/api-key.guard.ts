import type { CanActivate, ExecutionContext } from '@nestjs/common';
import type { Pool } from 'pg';
import { verifyApiKey, type ApiPrincipal } from '@keel/projections/store';
import { ApiError, ApiErrorCode } from '../http/api-error';
import type { HttpRequest } from '../http/http-types';

/** Routes anyone may call. */
const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/healthz', '/openapi.json']);

/**
 * `Authorization: Bearer <key>` on every other route. A missing, malformed,
 * unknown or revoked key is 401 (the same answer for each, so a caller
 * learns nothing about which keys exist). The key itself is never logged or
 * kept: only its principal (key id, tenant, role) is attached to the request.
 */
export class ApiKeyGuard implements CanActivate {
  constructor(private readonly pool: Pool) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<HttpRequest>();
    if (PUBLIC_PATHS.has(req.path)) return true;
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    const principal = m ? await verifyApiKey(this.pool, m[1]!) : undefined;
    if (!principal)
      throw new ApiError(
        401,
        ApiErrorCode.UNAUTHORIZED,
        header ? 'invalid API key' : 'missing API key: send Authorization: Bearer <key>',
      );
    req.principal = principal;
    return true;
  }
}

export function principalOf(req: HttpRequest): ApiPrincipal {
  if (!req.principal) throw new ApiError(401, ApiErrorCode.UNAUTHORIZED, 'not authenticated');
  return req.principal;
}

/** A tenant key sees its own tenant only; an admin key sees every tenant. */
export const canSeeTenant = (p: ApiPrincipal, tenant: string) =>
  p.role === 'admin' || p.tenant === tenant;
