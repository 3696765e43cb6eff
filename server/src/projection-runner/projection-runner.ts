/**
 * Hosts projections on the ordered subscription over the whole log. Each event's effect on a
 * projection's tables and the projection's checkpoint are written in one transaction, so after a
 * crash the projection resumes exactly after the last event it applied: never twice, never skipped.
 */
import { matches as matchesFilter } from '../event-store/event-filter';
import type { EventFilter, EventStore, RecordedEvent, Subscription } from '../event-store/event-store.port';
import { readCheckpoint, type StateDb, writeCheckpoint } from '../state/state-db';

export interface HostedProjection {
  readonly name: string;
  readonly filter?: EventFilter;
  /** Creates the projection's tables if missing. */
  setup(db: StateDb): void;
  /** Applies one event; called inside the transaction that also moves the checkpoint. */
  apply(db: StateDb, event: RecordedEvent): void;
  /** Drops the projection's state, for a rebuild. */
  reset(db: StateDb): void;
}

interface Running {
  projection: HostedProjection;
  subscription: Subscription;
  loop: Promise<void>;
  checkpoint: number;
}

export class ProjectionRunner {
  private readonly running = new Map<string, Running>();

  constructor(
    private readonly store: EventStore,
    private readonly db: StateDb,
    private readonly onError: (name: string, error: unknown) => void = () => undefined,
    /** Called after each event a projection has handled (applied or skipped). */
    private readonly onApplied?: (name: string, event: RecordedEvent) => void,
  ) {}

  names(): string[] {
    return [...this.running.keys()];
  }

  start(projection: HostedProjection): void {
    projection.setup(this.db);
    const checkpoint = readCheckpoint(this.db, projection.name);
    // Unfiltered, so the checkpoint also moves past events this projection ignores (honest lag figures).
    const subscription = this.store.subscribeToAll({ afterPosition: checkpoint });
    const running: Running = { projection, subscription, checkpoint, loop: Promise.resolve() };
    const applyOne = this.db.transaction((event: RecordedEvent) => {
      projection.apply(this.db, event);
      writeCheckpoint(this.db, projection.name, event.position);
    });
    running.loop = (async () => {
      try {
        let skipped = 0;
        for await (const event of subscription) {
          if (!projection.filter || matchesFilter(event, projection.filter)) {
            applyOne(event);
            skipped = 0;
          } else if (++skipped % 1000 === 0) {
            writeCheckpoint(this.db, projection.name, event.position);
          }
          running.checkpoint = event.position;
          this.onApplied?.(projection.name, event);
        }
      } catch (error) {
        this.onError(projection.name, error);
      }
    })();
    this.running.set(projection.name, running);
  }

  /** Position of the last event a projection has applied. */
  checkpoint(name: string): number {
    return this.running.get(name)?.checkpoint ?? readCheckpoint(this.db, name);
  }

  async stop(): Promise<void> {
    for (const running of this.running.values()) {
      await running.subscription.stop();
      await running.loop;
    }
    this.running.clear();
  }

  /** Drops a projection's state and checkpoint, then rebuilds it from the start of the log. */
  async rebuild(projection: HostedProjection, onProgress?: (position: number, head: number) => void): Promise<void> {
    const head = await this.store.headPosition();
    projection.setup(this.db);
    this.db.transaction(() => {
      projection.reset(this.db);
      projection.setup(this.db);
      writeCheckpoint(this.db, projection.name, 0);
    })();
    let from = 1;
    const pageSize = 5000;
    while (from <= head) {
      const page = await this.store.readAll({ fromPosition: from, maxCount: pageSize });
      if (page.length === 0) break;
      this.db.transaction(() => {
        for (const event of page) {
          if (!projection.filter || matchesFilter(event, projection.filter)) projection.apply(this.db, event);
        }
        writeCheckpoint(this.db, projection.name, page[page.length - 1].position);
      })();
      from = page[page.length - 1].position + 1;
      onProgress?.(Math.min(from - 1, head), head);
    }
  }
}
