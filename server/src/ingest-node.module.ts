/**
 * An ingestion node (HERALD_ROLE=ingest): the tracking API and nothing else. It appends to the log
 * that the main process (HERALD_ROLE=all) follows, and keeps only what ingestion reads: the identity
 * projection (which person an anonymousId belongs to) in a state database of its own, and the
 * workspaces' write keys. Segments, scenarios, sending, analytics and the admin API run in the main
 * process. This is DESIGN.md's "stateless ingestion nodes": on KurrentDB any number of them; on the
 * embedded log, processes on the log's machine (docs/deployment.md, "Ingestion nodes").
 */
import { type DynamicModule, Inject, Logger, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import { CONFIG, coreProviders, type HeraldModuleOptions, STATE_DB } from './app.module';
import { IngestionProjections } from './ingestion/ingestion-projections';
import type { HeraldConfig } from './config';
import { EVENT_STORE, type EventStore } from './event-store/event-store.port';
import { notSharedReason } from './event-store/sqlite/shared-log-marker';
import { OperationsController } from './operations/operations.controller';
import { ProjectionRunner } from './projection-runner/projection-runner';
import { releaseDataDirLock, takeDataDirLock } from './state/data-dir-lock';
import type { StateDb } from './state/state-db';
import { WorkspacesService } from './workspaces/workspaces.service';

/** How often an ingestion node on the embedded log checks that the main process still shares it (ms). */
const SHARING_CHECK_MS = 1000;

class IngestNodeLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('ingest-node');
  private sharingCheck?: NodeJS.Timeout;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(STATE_DB) private readonly db: StateDb,
    @Inject(CONFIG) private readonly config: HeraldConfig,
    private readonly workspaces: WorkspacesService,
    private readonly runner: ProjectionRunner,
    private readonly ingestion: IngestionProjections,
  ) {}

  async onModuleInit(): Promise<void> {
    try {
      await this.start();
    } catch (error) {
      // Nest runs no shutdown hook for a start that failed: the log's writer and the state database
      // are closed here, or the process would stay up with nothing to serve.
      await this.onApplicationShutdown();
      throw error;
    }
  }

  private async start(): Promise<void> {
    if (this.store.kind === 'sqlite') {
      const refusal = notSharedReason(this.config.dataDir);
      if (refusal) throw new Error(`${refusal} (${this.config.dataDir})`);
      this.sharingCheck = setInterval(() => this.checkSharing(), SHARING_CHECK_MS);
      this.sharingCheck.unref();
    }
    takeDataDirLock(this.config.stateDir);
    await this.workspaces.loadExisting();
    this.ingestion.start();
    this.logger.log(`Ingestion node: event store ${this.store.kind}; state in ${this.config.stateDir}`);
  }

  /**
   * The main process restarted as the log's only writer: it now answers reads from what it wrote
   * itself, which this node's appends would make wrong. The store refuses every commit from then on
   * (503); this also turns /health to 503 while no events arrive. A restart is needed after.
   */
  private checkSharing(): void {
    const refusal = notSharedReason(this.config.dataDir);
    if (refusal === undefined) return;
    clearInterval(this.sharingCheck);
    this.logger.error(`${refusal}; this ingestion node no longer accepts events`);
    void this.store.close();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.sharingCheck);
    await this.runner.stop();
    await this.store.close();
    this.db.close();
    releaseDataDirLock(this.config.stateDir);
  }
}

@Module({})
export class IngestNodeModule {
  static forRoot(options: HeraldModuleOptions): DynamicModule {
    return {
      module: IngestNodeModule,
      imports: [CqrsModule.forRoot()],
      controllers: [OperationsController],
      providers: [...coreProviders(options), IngestNodeLifecycle],
    };
  }
}
