import type { QueryConfig, QueryResult, QueryResultRow } from 'pg';

/**
 * Anything that runs a query: a `pg.Pool` (each call may use a different
 * connection) or a `pg.PoolClient` (one connection, e.g. inside a
 * transaction). Functions that must share a transaction take a client.
 */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(
    config: QueryConfig<unknown[]>,
  ): Promise<QueryResult<R>>;
  query<R extends QueryResultRow = QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<QueryResult<R>>;
}
