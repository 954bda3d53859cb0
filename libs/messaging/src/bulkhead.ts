/**
 * An in-process counting semaphore: at most `capacity` handlers run at once.
 * The pull loop asks for only as many messages as there are free slots, so a
 * message is never held in a client-side buffer (with its ack timer running)
 * waiting for a slot.
 */
export class Bulkhead {
  private inFlight = 0;
  private slotWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`bulkhead capacity must be a positive integer, got ${capacity}`);
    }
  }

  get active(): number {
    return this.inFlight;
  }

  get free(): number {
    return this.capacity - this.inFlight;
  }

  /** Resolves when at least one slot is free (immediately if one is). Does not take it. */
  whenFree(): Promise<void> {
    if (this.free > 0) return Promise.resolve();
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  /** Resolves when nothing is in flight. */
  whenIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Takes a slot; the caller must have checked `free > 0` (the pull loop never over-asks). */
  acquire(): void {
    if (this.free <= 0) throw new Error('bulkhead over capacity: acquire() without a free slot');
    this.inFlight += 1;
  }

  release(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    const slotWaiters = this.slotWaiters;
    this.slotWaiters = [];
    for (const wake of slotWaiters) wake();
    if (this.inFlight === 0) {
      const idleWaiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of idleWaiters) wake();
    }
  }

  /** Wakes anyone waiting for a slot (used on stop so the pull loop can exit). */
  wakeAll(): void {
    const slotWaiters = this.slotWaiters;
    this.slotWaiters = [];
    for (const wake of slotWaiters) wake();
  }
}
