/**
 * Fires durable timers: reads the rows of a timer index that are due at the clock's now (an index
 * range, never all users) and appends a `TimerFired` for each to the person's stream. The event's id
 * is derived from the timer, so firing twice appends once; a timer stays "in flight" for a minute so
 * a slow projection is not sent the same timer again and again. The projection that owns the index
 * moves or deletes the row when it reads the `TimerFired`.
 *
 * Started, the timers sleep until the index's earliest due time instead of polling it: they look
 * again when that moment comes, when the owning projection has committed (`indexChanged`: a row due
 * sooner may have been written), when a test clock jumps, and at least every MAX_SLEEP_MS. While due
 * rows are all in flight (their projection has not read the `TimerFired` yet) they look every
 * `inFlightRetryMs`, the old poll's interval.
 */
import { personStream } from '@herald/projections';
import type { EventStore, NewEvent } from '../event-store/event-store.port';
import type { Clock } from './clock';
import { uuidv5 } from './ids';

/** Timers fired per round. */
const FIRE_BATCH = 1000;
/** Due rows read per round at most, in flight or not (a projection that is down leaves them all due). */
const MAX_DUE_READ = 20_000;
/**
 * The longest sleep without looking at the index: a bound on how late a timer fires should a change
 * of the index go unsignalled, or the system clock be set forward.
 */
export const MAX_SLEEP_MS = 1000;

export interface DueTimer {
  /** Unique per timer and due time; the `TimerFired` id is derived from it. */
  key: string;
  workspace: string;
  person: string;
  dueAt: number;
}

export class DueTimers<Timer extends DueTimer = DueTimer> {
  private readonly inFlight = new Set<string>();
  private running?: Promise<number>;
  private started = false;
  /** The next look at the index, and when (performance.now()) it is due. */
  private wake?: NodeJS.Timeout;
  private wakeAt = 0;
  /** The last look fired nothing, and nothing changed since: rows due are in flight. */
  private stalled = false;
  private inFlightRetryMs = 10;
  private unsubscribeJumps?: () => void;

  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    /** Names the timers in `TimerFired.data.purpose` and in the derived event id. */
    private readonly purpose: string,
    /** Due rows of the index, oldest first. */
    private readonly due: (now: number, limit: number) => Timer[],
    /** The earliest due time in the index (in flight or not), or undefined when it is empty. */
    private readonly nextDue: () => number | undefined,
    /** What the `TimerFired` of a due timer carries besides its purpose and due time. */
    private readonly payload: (timer: Timer) => { data: Record<string, unknown>; causationId?: string },
  ) {}

  /** Fires each timer when it falls due from now on; `inFlightRetryMs`: see the class comment. */
  start(inFlightRetryMs: number): void {
    this.inFlightRetryMs = inFlightRetryMs;
    this.started = true;
    this.unsubscribeJumps = this.clock.onJump?.(() => this.indexChanged());
    this.schedule();
  }

  async stop(): Promise<void> {
    this.started = false;
    clearTimeout(this.wake);
    this.wake = undefined;
    this.unsubscribeJumps?.();
    await this.running;
  }

  /**
   * The owning projection committed (or the clock jumped): a row due sooner than the next look may
   * have been written, and rows in flight may have moved.
   */
  indexChanged(): void {
    this.stalled = false;
    this.schedule();
  }

  /** Arms the next look at the index for its earliest due time, unless one is armed sooner. */
  private schedule(): void {
    if (!this.started) return;
    const next = this.nextDue();
    const now = this.clock.now().getTime();
    let delay: number;
    if (next === undefined) delay = MAX_SLEEP_MS;
    else if (next > now) delay = Math.min(MAX_SLEEP_MS, next - now);
    else delay = this.stalled ? this.inFlightRetryMs : 0;
    const at = performance.now() + delay;
    if (this.wake && this.wakeAt <= at) return;
    clearTimeout(this.wake);
    this.wakeAt = at;
    this.wake = setTimeout(() => this.look(), delay);
    this.wake.unref();
  }

  private look(): void {
    this.wake = undefined;
    this.fireDue().then(
      (fired) => {
        this.stalled = fired === 0;
        this.schedule();
      },
      () => {
        // The log refused the appends (it is down, or closing): look again after the retry interval.
        this.stalled = true;
        this.schedule();
      },
    );
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
