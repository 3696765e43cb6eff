import type { EventStore, RecordedEvent } from '../event-store/event-store.port';
import type { HostedProjection } from '../projection-runner/projection-runner';
import type { StateDb } from '../state/state-db';
import { SegmentEngine } from './segment-engine';
import { dropSegmentTables, SegmentState } from './segment-state';

export const SEGMENTS_PROJECTION = 'segments';

/** Profiles and segment membership, hosted by the projection runner; also the due-timer index. */
export class SegmentsProjection implements HostedProjection {
  readonly name = SEGMENTS_PROJECTION;
  /**
   * Decides the next batch while the previous one's decisions are being made durable: a sign-up
   * that arrives meanwhile no longer waits for that append and the state commit after it. The
   * state keeps each batch's changes apart and a commit writes only its own batch's.
   */
  readonly pipelined = true;
  private stateInstance?: SegmentState;
  private engineInstance?: SegmentEngine;

  constructor(
    private readonly db: StateDb,
    private readonly store: Pick<EventStore, 'readAll'>,
    /**
     * False for a rebuild: membership is recorded as always, but the SegmentEntered / SegmentExited
     * events (derived ids, metadata) are not built, since a rebuild throws decisions away.
     */
    private readonly decides = true,
    /** Rows of last seen noted apart that are folded at once (tests make it small). */
    private readonly seenCompactRows?: number,
  ) {}

  get state(): SegmentState {
    this.stateInstance ??= new SegmentState(this.db, undefined, this.seenCompactRows);
    return this.stateInstance;
  }

  get engine(): SegmentEngine {
    this.engineInstance ??= new SegmentEngine(this.state, this.store, this.decides);
    return this.engineInstance;
  }

  setup(): void {
    void this.state;
  }

  reset(db: StateDb): void {
    dropSegmentTables(db);
    this.stateInstance = undefined;
    this.engineInstance = undefined;
  }

  preload(events: RecordedEvent[]): void {
    // The runner preloads every live batch, in log order, before handling it: what the batch's
    // events change is kept apart from the batches before and after.
    this.state.beginBatch(events[events.length - 1].position);
    // One read transaction for the whole batch's person and link reads.
    this.db.transaction(() => this.engine.preload(events))();
  }

  handle(event: RecordedEvent) {
    this.state.at(event.position);
    return this.engine.handle(event);
  }

  /** Marks how far the commit in progress goes: `flush` writes the batches up to there. */
  apply(_db: StateDb, event: RecordedEvent): void {
    this.state.applied(event.position);
  }

  flush(): void {
    this.engine.settleNextChecks();
    this.state.flush();
  }

  holdsMuch(): boolean {
    return this.state.holdsMuch();
  }

  discard(): void {
    this.state.discard();
    this.engine.reset();
  }
}
