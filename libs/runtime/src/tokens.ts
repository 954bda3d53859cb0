/** Nest injection tokens shared by every Keel service (inject explicitly: no reflected types). */
export const BASE_CONFIG = Symbol('BASE_CONFIG');
export const PG_POOL = Symbol('PG_POOL');
export const LOGGER = Symbol('LOGGER');
export const NAMES = Symbol('NAMES');
