/** Services read time through this, so tests can run days of simulated time in seconds. */
export interface Clock {
  now(): Date;
  /**
   * A clock that moves by jumps (a test clock) calls `listener` after each jump, so what waits for a
   * moment of its time (the durable timers) can look again; returns the unsubscribe. The system clock
   * has none: real time is waited for with real timers.
   */
  onJump?(listener: () => void): () => void;
}

export const CLOCK = Symbol('Clock');

export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to. */
export class TestClock implements Clock {
  private readonly listeners = new Set<() => void>();

  constructor(private current: Date = new Date('2026-01-01T00:00:00Z')) {}
  now(): Date {
    return new Date(this.current);
  }
  set(to: Date): void {
    this.current = new Date(to);
    this.jumped();
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
    this.jumped();
  }
  onJump(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  private jumped(): void {
    for (const listener of this.listeners) listener();
  }
}
