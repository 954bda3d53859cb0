export * from './errors';
export * from './logger';
export * from './connection';
export * from './topology';
export * from './breaker-bucket';
export { publishJson, type PublishJsonOptions, type PublishResult } from './publish';
export { injectTraceHeaders, extractTraceContext, traceparentSampled } from './trace-context';
export {
  headersOf,
  headersToRecord,
  recordToHeaders,
  RUN_ID_HEADER,
  MSG_ID_HEADER,
} from './headers';
export { hasRawHeaders, rawHeaderValue, rawStatusCode } from './raw-headers';
export * from './inbound-message';
export { parseJson, ParseErrorCode, summariseIssues } from './parse-json';
export { startConsumer, type StartConsumerOptions, type ConsumerHandle } from './consumer';
export { faultPoint } from './fault-hooks';
export {
  DeadLetterCode,
  buildDeadLetter,
  publishDeadLetter,
  type DeadLetterSource,
} from './dead-lettering';
export { fullJitterBackoffMs } from './backoff';
export {
  requestJson,
  serveJson,
  BAD_REQUEST,
  type ErrorReply,
  type RequestJsonOptions,
  type ServeJsonOptions,
  type ServerHandle,
} from './request-reply';
export { MessagingModule } from './nest/messaging.module';
export { ConsumerHost, type ConsumerDefinition, type ServerDefinition } from './nest/consumer-host';
export type {
  MessagingModuleOptions,
  MessagingModuleEnvOptions,
  MessagingModuleInput,
  NatsEnvConfig,
} from './nest/messaging-options';
export * from './nest/tokens';
export * from './utf8';
