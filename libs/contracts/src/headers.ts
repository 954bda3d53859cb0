/** NATS header names Keel sets or reads, defined once. */
export const KeelHeaders = {
  /** JetStream's de-duplication header: the event id, or the upstream request id. */
  msgId: 'Nats-Msg-Id',
  /** The run a message belongs to; copied into dead letters. */
  runId: 'Keel-Run-Id',
  eventType: 'Keel-Event-Type',
  streamId: 'Keel-Stream-Id',
  streamVersion: 'Keel-Stream-Version',
  tenant: 'Keel-Tenant',
} as const;
