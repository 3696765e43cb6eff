import { type DynamicModule, Inject, Logger, Module, type OnApplicationShutdown, type OnModuleInit, type Provider } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { join } from 'node:path';
import { AuditController } from './audit/audit.controller';
import { GetUserHistoryHandler } from './audit/queries/get-user-history.handler';
import type { HeraldConfig } from './config';
import { createEventStore } from './event-store/create-event-store';
import { EVENT_STORE, type EventStore } from './event-store/event-store.port';
import { AdminGuard } from './http/admin.guard';
import { ErrorFilter } from './http/error.filter';
import { IngestionProjections } from './ingestion/ingestion-projections';
import { IdentityService } from './identity/identity.service';
import { IngestTrackingCallHandler } from './ingestion/commands/ingest-tracking-call.handler';
import { INGESTED_IDS } from './ingestion/dedupe/ingested-ids.projection';
import { IngestedIds } from './ingestion/dedupe/ingested-ids.service';
import { Metrics } from './operations/metrics';
import { OperationsController } from './operations/operations.controller';
import { ParkedEventsController } from './operations/parked-events.controller';
import { ProjectionRunner } from './projection-runner/projection-runner';
import { CLOCK, type Clock, systemClock } from './shared/clock';
import { openStateDb, readCheckpoint, type StateDb, writeCheckpoint } from './state/state-db';
import { WorkspacesService } from './workspaces/workspaces.service';
import { SegmentCatalog } from './segments/segment-catalog';
import { SegmentQueries } from './segments/segment-queries';
import { SegmentTimers } from './segments/segment-timers';
import { SegmentsController } from './segments/segments.controller';
import { SegmentsProjection } from './segments/segments.projection';
import { MessagingSettingsController } from './settings/messaging-settings.controller';
import { MessagingSettingsService } from './settings/messaging-settings.service';
import { UserCaps } from './users/user-caps';
import { UsersController } from './users/users.controller';
import { SuppressionsService } from './channels/suppressions/suppressions.service';
import { releaseDataDirLock, takeDataDirLock } from './state/data-dir-lock';
import { recordLogSharing } from './event-store/sqlite/shared-log-marker';
import { ScenarioCatalog } from './scenarios/scenario-catalog';
import { ScenarioEngine } from './scenarios/scenario-engine';
import { ScenarioTimers } from './scenarios/scenario-timers';
import { ScenarioTriggers } from './scenarios/scenario-triggers';
import { ScenariosController } from './scenarios/scenarios.controller';
import { ScenarioSimulations } from './scenarios/simulation/scenario-simulations';
import { ScenariosProjection } from './scenarios/scenarios.projection';
import { WebhookRetryTimers, WebhooksProjection } from './scenarios/webhooks.projection';
import { Broadcasts } from './scenarios/broadcasts';
import { channelControllers, channelProviders } from './channels/channels.wiring';
import { Dispatcher, DispatchRetryTimers } from './channels/dispatcher.projection';
import { EmailAdapter } from './channels/email/email.adapter';
import { PhoneIndexProjection } from './channels/twilio/phone-index.projection';
import { seedTemplates } from './templates/seed-templates';
import { TemplateStore } from './templates/template-store';
import { DEFAULT_WORKSPACE } from './workspaces/workspaces.service';
import { Optional } from '@nestjs/common';
import { analyticsControllers, analyticsProviders } from './analytics/analytics.wiring';
import { experimentControllers, experimentProviders } from './experiments/experiments.wiring';

export const CONFIG = Symbol('HeraldConfig');
export const STATE_DB = Symbol('StateDb');

export interface HeraldModuleOptions {
  config: HeraldConfig;
  clock?: Clock;
  /** Prints secrets generated on first start; tests capture them instead. */
  onFirstStart?: (secrets: { writeKey?: string; adminToken?: string }) => void;
}

const commandHandlers = [IngestTrackingCallHandler];
const queryHandlers = [GetUserHistoryHandler];

/** Starts what runs in the background and closes everything on shutdown. */
class HeraldLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('herald');
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(STATE_DB) private readonly db: StateDb,
    @Inject(CONFIG) private readonly config: HeraldConfig,
    private readonly workspaces: WorkspacesService,
    private readonly runner: ProjectionRunner,
    private readonly ingestion: IngestionProjections,
    private readonly segments: SegmentsProjection,
    private readonly timers: SegmentTimers,
    private readonly scenarios: ScenariosProjection,
    private readonly scenarioTimers: ScenarioTimers,
    private readonly broadcasts: Broadcasts,
    private readonly scenarioEngine: ScenarioEngine,
    private readonly dispatcher: Dispatcher,
    private readonly dispatchRetries: DispatchRetryTimers,
    private readonly webhooks: WebhooksProjection,
    private readonly webhookRetries: WebhookRetryTimers,
    private readonly templates: TemplateStore,
    private readonly simulations: ScenarioSimulations,
    @Inject('ON_FIRST_START') private readonly onFirstStart: HeraldModuleOptions['onFirstStart'],
    @Optional() private readonly phoneIndex?: PhoneIndexProjection,
    @Optional() private readonly email?: EmailAdapter,
  ) {}

  async onModuleInit(): Promise<void> {
    takeDataDirLock(this.config.dataDir);
    if (this.store.kind === 'sqlite') recordLogSharing(this.config.dataDir, this.config.sqliteShared);
    const headAtStart = await this.store.headPosition();
    const secrets = await this.workspaces.bootstrap(this.config);
    if (secrets.writeKey || secrets.adminToken) this.onFirstStart?.(secrets);
    const seeded = await seedTemplates(this.templates, DEFAULT_WORKSPACE);
    if (seeded.length > 0) this.logger.log(`Seeded ${seeded.length} example templates into the ${DEFAULT_WORKSPACE} workspace`);
    // Without a checkpoint (a new state folder beside an existing log), reactors with effects must not
    // act on the whole history again: rebuild the timer index and start them from the head. This runs
    // before any projection starts, as a rebuild holds the state database's transaction.
    if (headAtStart > 0 && readCheckpoint(this.db, this.scenarios.name) === 0) {
      const head = await this.store.headPosition();
      await this.runner.rebuild(new ScenariosProjection(this.scenarioEngine, false));
      for (const name of [this.dispatcher.name, this.webhooks.name]) writeCheckpoint(this.db, name, readCheckpoint(this.db, this.scenarios.name));
      this.logger.warn(`No scenario checkpoint: rebuilt the timer index up to ${head}; reactors start from there`);
    }
    // Each timer index is written by one projection: its timers look again when that one commits.
    this.runner.onStateCommitted(this.segments.name, () => this.timers.indexChanged());
    this.runner.onStateCommitted(this.scenarios.name, () => this.scenarioTimers.indexChanged());
    this.runner.onStateCommitted(this.dispatcher.name, () => this.dispatchRetries.indexChanged());
    this.runner.onStateCommitted(this.webhooks.name, () => this.webhookRetries.indexChanged());
    this.ingestion.start();
    this.runner.start(this.segments);
    if (this.phoneIndex) this.runner.start(this.phoneIndex);
    this.runner.start(this.scenarios);
    // Intents left without an outcome by a crash are settled before new sends start.
    await this.dispatcher.recover();
    this.runner.start(this.dispatcher);
    // Calls a stop or a crash cut short are made again (at least once).
    await this.webhooks.recover();
    this.runner.start(this.webhooks);
    this.timers.start();
    this.scenarioTimers.start();
    this.dispatchRetries.start();
    this.webhookRetries.start();
    this.broadcasts.start();
    this.logger.log(`Event store: ${this.store.kind}; data in ${this.config.dataDir}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.timers.stop();
    await this.scenarioTimers.stop();
    await this.dispatchRetries.stop();
    await this.webhookRetries.stop();
    await this.broadcasts.stop();
    await this.simulations.stop();
    await this.runner.stop();
    await this.dispatcher.drain();
    await this.webhooks.stop();
    await this.email?.close?.();
    await this.store.close();
    this.db.close();
    releaseDataDirLock(this.config.dataDir);
  }
}

/**
 * What both roles run: the log, this process's state database, identity resolution, the projection
 * runner, workspaces' write keys, metrics, the error filter and the ingestion command.
 */
export function coreProviders(options: HeraldModuleOptions): Provider[] {
  const { config } = options;
  return [
    { provide: CONFIG, useValue: config },
    { provide: CLOCK, useValue: options.clock ?? systemClock },
    { provide: 'ON_FIRST_START', useValue: options.onFirstStart },
    { provide: EVENT_STORE, useFactory: () => createEventStore(config) },
    { provide: STATE_DB, useFactory: () => openStateDb(join(config.stateDir, 'state.sqlite')) },
    { provide: IdentityService, useFactory: (db: StateDb) => new IdentityService(db), inject: [STATE_DB] },
    // The embedded log refuses a known event id by itself; KurrentDB only within its recent-ids cache.
    {
      provide: IngestedIds,
      useFactory: (store: EventStore, db: StateDb) => (store.kind === 'kurrentdb' ? new IngestedIds(db) : null),
      inject: [EVENT_STORE, STATE_DB],
    },
    Metrics,
    {
      provide: ProjectionRunner,
      useFactory: (store: EventStore, db: StateDb, identity: IdentityService, ingestedIds: IngestedIds | null) => {
        const logger = new Logger('projections');
        return new ProjectionRunner(store, db, {
          onError: (name, error) => logger.error(`Projection ${name} failed, resuming from its checkpoint: ${(error as Error).stack ?? error}`),
          onParked: (parked) =>
            logger.error(
              `Projection ${parked.projection} parked event ${parked.eventId} (${parked.type}, position ${parked.position}, stream ${parked.stream}) after ${parked.attempts} failures: ${parked.error}. It skips the event from now on; see docs/deployment.md`,
            ),
          onCommitted: (name, event) => {
            identity.committed(name, event);
            if (name === INGESTED_IDS) ingestedIds?.settled(event.id);
          },
        });
      },
      inject: [EVENT_STORE, STATE_DB, IdentityService, IngestedIds],
    },
    {
      provide: IngestionProjections,
      useFactory: (runner: ProjectionRunner, store: EventStore, db: StateDb, clock: Clock, ingestedIds: IngestedIds | null) =>
        new IngestionProjections(runner, store, db, clock, ingestedIds),
      inject: [ProjectionRunner, EVENT_STORE, STATE_DB, CLOCK, IngestedIds],
    },
    {
      provide: WorkspacesService,
      // Only the main process writes workspaces; an ingestion node rereads them for a key it does not know.
      useFactory: (store: EventStore, clock: Clock) => new WorkspacesService(store, clock, config.role === 'ingest' ? 1000 : undefined),
      inject: [EVENT_STORE, CLOCK],
    },
    { provide: APP_FILTER, useClass: ErrorFilter },
    ...commandHandlers,
  ];
}

@Module({})
export class AppModule {
  static forRoot(options: HeraldModuleOptions): DynamicModule {
    const { config } = options;
    return {
      module: AppModule,
      imports: [CqrsModule.forRoot()],
      controllers: [
        AuditController,
        UsersController,
        SegmentsController,
        ScenariosController,
        MessagingSettingsController,
        OperationsController,
        ParkedEventsController,
        ...channelControllers(config),
        ...analyticsControllers(),
        ...experimentControllers,
      ],
      providers: [
        ...coreProviders(options),
        {
          provide: SegmentsProjection,
          useFactory: (db: StateDb, store: EventStore) => new SegmentsProjection(db, store),
          inject: [STATE_DB, EVENT_STORE],
        },
        // Both read the segments projection's tables, so they are created first.
        {
          provide: SegmentQueries,
          useFactory: (db: StateDb, segments: SegmentsProjection) => (segments.setup(), new SegmentQueries(db)),
          inject: [STATE_DB, SegmentsProjection],
        },
        {
          provide: SegmentTimers,
          useFactory: (db: StateDb, store: EventStore, clock: Clock, segments: SegmentsProjection) => (
            segments.setup(), new SegmentTimers(db, store, clock)
          ),
          inject: [STATE_DB, EVENT_STORE, CLOCK, SegmentsProjection],
        },
        {
          provide: SegmentCatalog,
          useFactory: (store: EventStore, clock: Clock) =>
            new SegmentCatalog(store, clock, (workspace, segmentId) => new ScenarioCatalog(store, clock).usingSegment(workspace, segmentId)),
          inject: [EVENT_STORE, CLOCK],
        },
        {
          provide: MessagingSettingsService,
          useFactory: (store: EventStore, clock: Clock) => new MessagingSettingsService(store, clock),
          inject: [EVENT_STORE, CLOCK],
        },
        { provide: SuppressionsService, useFactory: (store: EventStore, clock: Clock) => new SuppressionsService(store, clock), inject: [EVENT_STORE, CLOCK] },
        {
          provide: UserCaps,
          useFactory: (settings: MessagingSettingsService, clock: Clock) => new UserCaps(settings, clock),
          inject: [MessagingSettingsService, CLOCK],
        },
        {
          provide: ScenarioCatalog,
          useFactory: (store: EventStore, clock: Clock, segments: SegmentCatalog, templates: TemplateStore) =>
            new ScenarioCatalog(store, clock, {
              segmentIds: async (workspace) => new Set((await segments.read(workspace)).entries.keys()),
              templateIds: async (workspace) => new Set((await templates.read(workspace)).templates.keys()),
            }),
          inject: [EVENT_STORE, CLOCK, SegmentCatalog, TemplateStore],
        },
        {
          provide: ScenarioEngine,
          useFactory: (store: EventStore, catalog: ScenarioCatalog, settings: MessagingSettingsService) => new ScenarioEngine(store, catalog, settings),
          inject: [EVENT_STORE, ScenarioCatalog, MessagingSettingsService],
        },
        { provide: ScenariosProjection, useFactory: (engine: ScenarioEngine) => new ScenariosProjection(engine), inject: [ScenarioEngine] },
        {
          provide: ScenarioTimers,
          useFactory: (db: StateDb, store: EventStore, clock: Clock) => new ScenarioTimers(db, store, clock),
          inject: [STATE_DB, EVENT_STORE, CLOCK],
        },
        {
          provide: WebhooksProjection,
          useFactory: (db: StateDb, store: EventStore, clock: Clock) =>
            new WebhooksProjection(db, store, clock, {
              retryBaseMs: config.webhookRetryBaseMs,
              concurrency: config.webhookConcurrency,
              timeoutMs: config.webhookTimeoutMs,
            }),
          inject: [STATE_DB, EVENT_STORE, CLOCK],
        },
        {
          provide: WebhookRetryTimers,
          useFactory: (db: StateDb, store: EventStore, clock: Clock) => new WebhookRetryTimers(db, store, clock),
          inject: [STATE_DB, EVENT_STORE, CLOCK],
        },
        {
          provide: ScenarioSimulations,
          useFactory: (clock: Clock) => new ScenarioSimulations({ eventStoreUrl: config.eventStoreUrl, dataDir: config.dataDir }, clock),
          inject: [CLOCK],
        },
        {
          provide: ScenarioTriggers,
          useFactory: (engine: ScenarioEngine, catalog: ScenarioCatalog, store: EventStore, identity: IdentityService, clock: Clock) =>
            new ScenarioTriggers(engine, catalog, store, identity, clock),
          inject: [ScenarioEngine, ScenarioCatalog, EVENT_STORE, IdentityService, CLOCK],
        },
        {
          provide: Broadcasts,
          useFactory: (engine: ScenarioEngine, segments: SegmentQueries, workspaces: WorkspacesService, clock: Clock) =>
            new Broadcasts(engine, segments, workspaces, clock),
          inject: [ScenarioEngine, SegmentQueries, WorkspacesService, CLOCK],
        },
        ...channelProviders(config, STATE_DB),
        ...analyticsProviders(config, STATE_DB),
        ...experimentProviders(STATE_DB),
        AdminGuard,
        HeraldLifecycle,
        ...queryHandlers,
      ],
    };
  }
}
