/**
 * Fires durable timers: reads the rows of a timer index that are due at the clock's now (an index
 * range, never all users) and appends a `TimerFired` for each to the person's stream. The event's id
 * is derived from the timer, so firing twice appends once; a timer stays "in flight" for a minute so
 * a slow projection is not sent the same timer again and again. The projection that owns the index
 * moves or deletes the row when it reads the `TimerFired`.
 */
import { personStream } from '@herald/projections';
import type { EventStore, NewEvent } from '../event-store/event-store.port';
import type { Clock } from './clock';
import { uuidv5 } from './ids';

/** Timers fired per round. */
const FIRE_BATCH = 1000;
/** Due rows read per round at most, in flight or not (a projection that is down leaves them all due). */
const MAX_DUE_READ = 20_000;

export interface DueTimer {
  /** Unique per timer and due time; the `TimerFired` id is derived from it. */
  key: string;
  workspace: string;
  person: string;
  dueAt: number;
}

export class DueTimers<Timer extends DueTimer = DueTimer> {
  private readonly inFlight = new Set<string>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    /** Names the timers in `TimerFired.data.purpose` and in the derived event id. */
    private readonly purpose: string,
    /** Due rows of the index, oldest first. */
    private readonly due: (now: number, limit: number) => Timer[],
    /** What the `TimerFired` of a due timer carries besides its purpose and due time. */
    private readonly payload: (timer: Timer) => { data: Record<string, unknown>; causationId?: string },
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.fireDue().catch(() => undefined), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Appends `TimerFired` for every timer due at the clock's now; returns how many. */
  fireDue(): Promise<number> {
    this.running ??= this.fire().finally(() => (this.running = undefined));
    return this.running;
  }

  /** The `TimerFired` for a due timer: its id derived from the timer, occurring at the due time. */
  private fired(timer: Timer, now: number): NewEvent {
    const dueAt = new Date(timer.dueAt).toISOString();
    const { data, causationId } = this.payload(timer);
    return {
      id: uuidv5(`timer|${this.purpose}|${timer.key}`),
      type: 'TimerFired',
      data: { purpose: this.purpose, ...data, dueAt },
      metadata: {
        workspace: timer.workspace,
        ...(causationId ? { causationId } : {}),
        occurredAt: dueAt,
        receivedAt: new Date(now).toISOString(),
        schemaVersion: 1,
      },
    };
  }

  private async fire(): Promise<number> {
    let fired = 0;
    const now = this.clock.now().getTime();
    for (;;) {
      // Past the rows still in flight (fired, not yet moved by the projection): with a limit of 1,000
      // alone, 1,000 fired timers the projection had not reached yet stopped every later one firing.
      const rows = this.due(now, Math.min(FIRE_BATCH + this.inFlight.size, MAX_DUE_READ)).filter((row) => !this.inFlight.has(row.key));
      if (rows.length === 0) return fired;
      await Promise.all(
        rows.map(async (row) => {
          this.inFlight.add(row.key);
          try {
            await this.store.append(personStream(row.workspace, row.person), [this.fired(row, now)]);
            fired += 1;
          } finally {
            setTimeout(() => this.inFlight.delete(row.key), 60_000).unref();
          }
        }),
      );
    }
  }
}
