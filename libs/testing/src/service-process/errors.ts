export type ServiceProcessErrorCode = 'ENTRY_NOT_FOUND' | 'SPAWN_FAILED' | 'SERVICE_EXITED';

export class ServiceProcessError extends Error {
  override name = 'ServiceProcessError';
  constructor(
    readonly code: ServiceProcessErrorCode,
    message: string,
  ) {
    super(message);
  }
}
