/**
 * What the experiments add to the app: the projection that counts exposures and conversions and
 * hosts the auto-winner, the use cases, and the `/api/experiments` endpoints. The projection starts
 * once the app is up (after the scenario engine), on the same runner as the others.
 */
import { Inject, Logger, type OnApplicationBootstrap, type Provider, type Type } from '@nestjs/common';
import { EVENT_STORE, type EventStore } from '../event-store/event-store.port';
import { ProjectionRunner } from '../projection-runner/projection-runner';
import { CLOCK, type Clock } from '../shared/clock';
import { readCheckpoint, type StateDb } from '../state/state-db';
import { ScenarioCatalog } from '../scenarios/scenario-catalog';
import { ExperimentsController } from './experiments.controller';
import { ExperimentsProjection } from './experiments.projection';
import { ExperimentsService } from './experiments.service';

const EXPERIMENTS_DB = Symbol('ExperimentsStateDb');

class ExperimentsLifecycle implements OnApplicationBootstrap {
  private readonly logger = new Logger('experiments');
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(EXPERIMENTS_DB) private readonly db: StateDb,
    private readonly runner: ProjectionRunner,
    private readonly projection: ExperimentsProjection,
    private readonly catalog: ScenarioCatalog,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // A log without this projection's checkpoint (a new state folder, or the first start with
    // experiments): count the history without concluding anything from it, then follow from there.
    if ((await this.store.headPosition()) > 0 && readCheckpoint(this.db, this.projection.name) === 0) {
      await this.runner.rebuild(new ExperimentsProjection(this.db, this.catalog, false));
      this.logger.log('Counted the experiments in the existing log');
    }
    this.runner.start(this.projection);
  }
}

export const experimentControllers: Type[] = [ExperimentsController];

export function experimentProviders(stateDbToken: symbol): Provider[] {
  return [
    { provide: EXPERIMENTS_DB, useExisting: stateDbToken },
    {
      provide: ExperimentsProjection,
      useFactory: (db: StateDb, catalog: ScenarioCatalog) => {
        const projection = new ExperimentsProjection(db, catalog);
        projection.setup();
        return projection;
      },
      inject: [stateDbToken, ScenarioCatalog],
    },
    {
      provide: ExperimentsService,
      useFactory: (db: StateDb, catalog: ScenarioCatalog, clock: Clock) => new ExperimentsService(db, catalog, clock),
      inject: [stateDbToken, ScenarioCatalog, CLOCK],
    },
    ExperimentsLifecycle,
  ];
}
