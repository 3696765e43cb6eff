/**
 * What ingestion reads, which both roles (the whole server and an ingestion node) start: the identity
 * projection (which person an anonymousId belongs to), and on KurrentDB the ingested-ids index.
 */
import type { EventStore } from '../event-store/event-store.port';
import { identityProjection } from '../identity/identity.projection';
import type { ProjectionRunner } from '../projection-runner/projection-runner';
import type { Clock } from '../shared/clock';
import { readCheckpoint, type StateDb } from '../state/state-db';
import { INGESTED_IDS, ingestedIdsProjection } from './dedupe/ingested-ids.projection';
import type { IngestedIds } from './dedupe/ingested-ids.service';

export class IngestionProjections {
  constructor(
    private readonly runner: ProjectionRunner,
    private readonly store: EventStore,
    private readonly db: StateDb,
    private readonly clock: Clock,
    private readonly ingestedIds: IngestedIds | null,
  ) {}

  start(): void {
    if (this.ingestedIds) {
      this.ingestedIds.startCatchUp(this.store, readCheckpoint(this.db, INGESTED_IDS), () => this.clock.now());
      this.runner.start(ingestedIdsProjection);
    }
    this.runner.start(identityProjection);
  }
}
