/** Injection tokens of the API app (inject explicitly: the bundle has no decorator metadata). */
export const API_CONFIG = Symbol('API_CONFIG');
export const EVENT_STREAMS = Symbol('EVENT_STREAMS');
