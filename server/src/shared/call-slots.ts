/**
 * What the background callers (the dispatcher, the webhook worker) share: a bound on calls in flight,
 * and the changes to their in-flight table kept until the batch's checkpoint writes them.
 */

/** At most `limit` calls in flight; a freed slot is handed to the oldest waiter. */
export class CallSlots {
  private inUse = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  /** Calls waiting for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  async acquire(): Promise<void> {
    if (this.inUse < this.limit) {
      this.inUse += 1;
      return;
    }
    // The slot is handed over by release, so waiters never overshoot the limit.
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.inUse -= 1;
  }
}

/**
 * Changes to an in-flight table not written yet, by key: the row, or null once settled. They are
 * written with the checkpoint of the batch that made them (`flush`, inside its transaction): one
 * transaction per batch instead of two per call, and a row exists whenever the checkpoint is past its
 * cause.
 */
export class PendingInflightRows<Row> {
  private pending = new Map<string, Row | null>();
  /** What the last `flush` wrote, given back by `discard` when that transaction may not have committed. */
  private flushed = new Map<string, Row | null>();

  constructor(
    private readonly write: (row: Row) => void,
    private readonly remove: (key: string) => void,
  ) {}

  set(key: string, row: Row): void {
    this.pending.set(key, row);
  }

  settle(key: string): void {
    this.pending.set(key, null);
  }

  flush(): void {
    for (const [key, row] of this.pending) {
      if (row) this.write(row);
      else this.remove(key);
    }
    this.flushed = this.pending;
    this.pending = new Map();
  }

  /** The batch failed: what its transaction would have written is written with the next one (later changes win). */
  discard(): void {
    for (const [key, row] of this.flushed) if (!this.pending.has(key)) this.pending.set(key, row);
    this.flushed = new Map();
  }
}
