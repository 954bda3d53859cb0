import { ErrorCode, NatsError } from 'nats';
import { cheapenNatsErrors } from './cheap-nats-errors';

describe('cheapenNatsErrors', () => {
  it('builds Cancelled and Timeout errors without a stack trace, others as before', () => {
    cheapenNatsErrors();
    cheapenNatsErrors(); // idempotent
    const cancelled = NatsError.errorForCode(ErrorCode.Cancelled);
    expect(cancelled).toBeInstanceOf(NatsError);
    expect(cancelled.code).toBe(ErrorCode.Cancelled);
    expect(cancelled.stack?.split('\n').length).toBe(1);
    expect(NatsError.errorForCode(ErrorCode.Timeout).code).toBe(ErrorCode.Timeout);
    const other = NatsError.errorForCode(ErrorCode.PermissionsViolation);
    expect(other.stack?.split('\n').length).toBeGreaterThan(1);
    expect(Error.stackTraceLimit).toBeGreaterThan(0);
  });
});
