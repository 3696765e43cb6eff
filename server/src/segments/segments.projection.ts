import type { EventStore, RecordedEvent } from '../event-store/event-store.port';
import type { HostedProjection } from '../projection-runner/projection-runner';
import type { StateDb } from '../state/state-db';
import { SegmentEngine } from './segment-engine';
import { dropSegmentTables, SegmentState } from './segment-state';

export const SEGMENTS_PROJECTION = 'segments';

/** Profiles and segment membership, hosted by the projection runner; also the due-timer index. */
export class SegmentsProjection implements HostedProjection {
  readonly name = SEGMENTS_PROJECTION;
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
  ) {}

  get state(): SegmentState {
    this.stateInstance ??= new SegmentState(this.db);
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
    // One read transaction for the whole batch's person and link reads.
    this.db.transaction(() => this.engine.preload(events))();
  }

  handle(event: RecordedEvent) {
    return this.engine.handle(event);
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
