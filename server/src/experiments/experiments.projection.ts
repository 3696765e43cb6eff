/**
 * The A/B tests of scenario steps, from the log: per enrolment, what it was exposed to and whether it
 * converted (the pure fold `evolveEnrollmentExposures`), and per (workspace, scenario, step, variant,
 * phase) the exposure and conversion counts the experiment API reads. Both tables are committed
 * with the checkpoint, so the counts are exactly those of the log up to it and a rebuild gives the
 * same numbers.
 *
 * It is also the auto-winner's host: after each exposure or conversion at a step with `autoWinner`,
 * it asks `decideAutoWinner` on the counts including that event, and appends the conclusion to the
 * scenarios stream (with the batch, before its checkpoint moves, and with an id derived from the
 * step, so a crash and a re-run append it once).
 */
import {
  type ArmChange,
  type ArmCounts,
  decideAutoWinner,
  type DomainEvent,
  EXPERIMENT_FOLD_TYPES,
  type EnrollmentExposures,
  enrollmentKey,
  evolveEnrollmentExposures,
  experimentEnrollmentOf,
} from '@herald/projections';
import type { EventFilter, NewEvent, RecordedEvent } from '../event-store/event-store.port';
import type { HostedProjection, PlannedAppend } from '../projection-runner/projection-runner';
import { prepared } from '../state/prepared';
import type { StateDb } from '../state/state-db';
import { conclusionEventId, type ScenarioCatalog, type ScenarioCatalogSnapshot } from '../scenarios/scenario-catalog';
import { EXPERIMENT_CONCLUDED, SCENARIO_LIFECYCLE_TYPES, scenariosStream } from '../scenarios/scenario.events';
import { cachedPromise } from '../shared/promise-cache';

export const EXPERIMENTS_PROJECTION = 'experiments';

export const EXPERIMENT_TABLES = `CREATE TABLE IF NOT EXISTS experiment_enrollments (
  workspace TEXT NOT NULL, enrollment_id TEXT NOT NULL, record TEXT NOT NULL,
  PRIMARY KEY (workspace, enrollment_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS experiment_arms (
  workspace TEXT NOT NULL, scenario_id TEXT NOT NULL, step_id TEXT NOT NULL, variant TEXT NOT NULL, phase TEXT NOT NULL,
  exposures INTEGER NOT NULL, conversions INTEGER NOT NULL,
  PRIMARY KEY (workspace, scenario_id, step_id, variant, phase)) WITHOUT ROWID;`;

export class ExperimentsProjection implements HostedProjection {
  readonly name = EXPERIMENTS_PROJECTION;
  readonly filter: EventFilter = { eventTypes: [...EXPERIMENT_FOLD_TYPES, ...SCENARIO_LIFECYCLE_TYPES] };
  /** Records and count changes decided by `handle` and not committed yet. */
  private records = new Map<string, EnrollmentExposures>();
  /**
   * Records started by an `EnrollmentStarted` without looking for one in the table (see `recordOf`):
   * an enrolment starts once, so there almost never is one, and that read was one of the few the
   * event loop made per message outside a transaction. If there is one, it stands, as the fold keeps it.
   */
  private unchecked = new Set<string>();
  /**
   * What the table held, before this batch, for the enrolments of the batch (null: no record), read
   * by `preload` in one read transaction; until the batch is flushed or discarded.
   */
  private stored = new Map<string, EnrollmentExposures | null>();
  private changes: ArmChange[] = [];
  private readonly catalogs = new Map<string, Promise<ScenarioCatalogSnapshot>>();
  /**
   * Steps this projection concluded whose event the catalog may not show yet: the runner appends a
   * batch's decisions after the whole batch, so later events of the batch must not conclude again.
   */
  private concludedHere = new Set<string>();

  constructor(
    private readonly db: StateDb,
    private readonly catalog: ScenarioCatalog,
    /** False while rebuilding: the counts are rebuilt, nothing is concluded again. */
    private readonly decides = true,
  ) {}

  setup(db: StateDb = this.db): void {
    db.exec(EXPERIMENT_TABLES);
  }

  reset(db: StateDb): void {
    db.exec('DROP TABLE IF EXISTS experiment_enrollments; DROP TABLE IF EXISTS experiment_arms;');
  }

  /**
   * Reads the records of the batch's enrolments in one read transaction: `recordOf` reads one when an
   * enrolment started in this batch has more events in it (to keep a stored record, if any), and an
   * autocommit read on the WAL database took about 27 µs each (2% of the event loop at 1,000
   * triggers/s); in a transaction a few.
   */
  preload(events: RecordedEvent[]): void {
    const wanted = new Map<string, [workspace: string, enrollmentId: string]>();
    for (const event of events) {
      const enrollmentId = experimentEnrollmentOf(event as DomainEvent);
      if (enrollmentId === undefined) continue;
      const key = enrollmentKey(event.metadata.workspace, enrollmentId);
      if (!this.stored.has(key)) wanted.set(key, [event.metadata.workspace, enrollmentId]);
    }
    if (wanted.size === 0) return;
    this.db.transaction(() => {
      for (const [key, [workspace, enrollmentId]] of wanted) this.stored.set(key, this.readRecord(workspace, enrollmentId) ?? null);
    })();
  }

  async handle(event: RecordedEvent): Promise<PlannedAppend[]> {
    const workspace = event.metadata.workspace;
    if (SCENARIO_LIFECYCLE_TYPES.includes(event.type)) {
      this.catalogs.delete(workspace);
      return [];
    }
    const enrollmentId = experimentEnrollmentOf(event as DomainEvent);
    if (enrollmentId === undefined) return [];
    const key = enrollmentKey(workspace, enrollmentId);
    const starts = event.type === 'EnrollmentStarted' && !this.records.has(key);
    const { record, changes } = evolveEnrollmentExposures(starts ? undefined : this.recordOf(workspace, enrollmentId, key), event as DomainEvent);
    if (record) this.records.set(key, record);
    if (starts && record) this.unchecked.add(key);
    if (changes.length === 0) return [];
    this.changes.push(...changes);
    if (!this.decides) return [];

    const appends: PlannedAppend[] = [];
    const steps = new Set(changes.map((change) => `${change.scenarioId}\u0000${change.stepId}`));
    for (const step of steps) {
      const [scenarioId, stepId] = step.split('\u0000');
      const planned = await this.autoWinner(workspace, scenarioId, stepId, event);
      if (planned) appends.push(planned);
    }
    return appends;
  }

  flush(db: StateDb): void {
    const upsertRecord = prepared<[string, string, string]>(
      db,
      'INSERT OR REPLACE INTO experiment_enrollments (workspace, enrollment_id, record) VALUES (?, ?, ?)',
    );
    // A record started unchecked is written only if the table has none (which then stands).
    const insertRecord = prepared<[string, string, string]>(
      db,
      'INSERT OR IGNORE INTO experiment_enrollments (workspace, enrollment_id, record) VALUES (?, ?, ?)',
    );
    for (const [key, record] of this.records) {
      (this.unchecked.has(key) ? insertRecord : upsertRecord).run(record.workspace, record.enrollmentId, JSON.stringify(record));
    }
    const addCounts = prepared<[string, string, string, string, string, number, number]>(
      db,
      `INSERT INTO experiment_arms (workspace, scenario_id, step_id, variant, phase, exposures, conversions) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (workspace, scenario_id, step_id, variant, phase)
       DO UPDATE SET exposures = exposures + excluded.exposures, conversions = conversions + excluded.conversions`,
    );
    for (const c of this.changes) addCounts.run(c.workspace, c.scenarioId, c.stepId, c.variant, c.phase, c.exposures, c.conversions);
    this.records.clear();
    this.unchecked.clear();
    this.stored.clear();
    this.changes = [];
  }

  discard(): void {
    this.records.clear();
    this.unchecked.clear();
    this.stored.clear();
    this.changes = [];
    this.catalogs.clear();
    // The appends of the failed batch may not have happened; the catalog read afresh will tell.
    this.concludedHere = new Set();
  }

  /** The counts of one step's arms, committed and pending. */
  counts(workspace: string, scenarioId: string, stepId: string): ArmCounts[] {
    const arms = new Map<string, ArmCounts>();
    for (const row of committedCounts(this.db, workspace, scenarioId, stepId)) arms.set(`${row.variant}\u0000${row.phase}`, row);
    for (const c of this.changes) {
      if (c.workspace !== workspace || c.scenarioId !== scenarioId || c.stepId !== stepId) continue;
      const key = `${c.variant}\u0000${c.phase}`;
      const arm = arms.get(key) ?? { variant: c.variant, phase: c.phase, exposures: 0, conversions: 0 };
      arms.set(key, { ...arm, exposures: arm.exposures + c.exposures, conversions: arm.conversions + c.conversions });
    }
    return [...arms.values()];
  }

  private recordOf(workspace: string, enrollmentId: string, key: string): EnrollmentExposures | undefined {
    const pending = this.records.get(key);
    if (pending && !this.unchecked.has(key)) return pending;
    const preloaded = this.stored.get(key);
    const stored = preloaded === undefined ? this.readRecord(workspace, enrollmentId) : (preloaded ?? undefined);
    if (!pending) return stored;
    // A record started unchecked is needed further: the one in the table, if any, is the enrolment's.
    this.unchecked.delete(key);
    if (!stored) return pending;
    this.records.set(key, stored);
    return stored;
  }

  private readRecord(workspace: string, enrollmentId: string): EnrollmentExposures | undefined {
    const row = prepared<[string, string], { record: string }>(this.db, 'SELECT record FROM experiment_enrollments WHERE workspace = ? AND enrollment_id = ?')
      .get(workspace, enrollmentId);
    return row ? (JSON.parse(row.record) as EnrollmentExposures) : undefined;
  }

  private async autoWinner(workspace: string, scenarioId: string, stepId: string, cause: RecordedEvent): Promise<PlannedAppend | undefined> {
    const catalog = await this.catalogOf(workspace);
    const latest = catalog.latest(scenarioId);
    if (!latest || latest.status === 'archived') return undefined;
    const step = latest.definition.steps.find((s) => s.id === stepId);
    if (!step || !('send' in step) || !step.send.autoWinner) return undefined;
    const here = `${workspace}\u0000${scenarioId}\u0000${stepId}`;
    const concluded = decideAutoWinner({
      definition: latest.definition,
      version: latest.version,
      stepId,
      arms: this.counts(workspace, scenarioId, stepId),
      concluded: this.concludedHere.has(here) || catalog.conclusion(scenarioId, stepId) !== undefined,
      causeEventId: cause.id,
      // The moment of the event that tipped it: the log's time, not the wall clock, so a re-run decides alike.
      now: Date.parse(cause.metadata.occurredAt),
    });
    if (!concluded) return undefined;
    this.concludedHere.add(here);
    const event: NewEvent = {
      id: conclusionEventId(workspace, scenarioId, stepId),
      type: EXPERIMENT_CONCLUDED,
      data: concluded,
      metadata: {
        workspace,
        causationId: cause.id,
        correlationId: cause.metadata.correlationId ?? cause.id,
        occurredAt: concluded.concludedAt,
        receivedAt: cause.metadata.receivedAt,
        schemaVersion: 1,
      },
    };
    return { stream: scenariosStream(workspace), events: [event] };
  }

  private catalogOf(workspace: string): Promise<ScenarioCatalogSnapshot> {
    return cachedPromise(this.catalogs, workspace, () => this.catalog.read(workspace));
  }
}

export function committedCounts(db: StateDb, workspace: string, scenarioId: string, stepId: string): ArmCounts[] {
  return prepared<[string, string, string], ArmCounts>(
    db,
    `SELECT variant, phase, exposures, conversions FROM experiment_arms
     WHERE workspace = ? AND scenario_id = ? AND step_id = ? ORDER BY variant, phase`,
  ).all(workspace, scenarioId, stepId);
}
