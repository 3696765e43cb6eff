/**
 * What the sink remembers to give every event its funnel context. Provider outcomes (`MessageSent`,
 * `MessageOpened`, ...) carry only a message id, and most step events carry no variant, yet the
 * funnel views group by scenario, step, variant and enrolment day. The log states each link once
 * (`MessageQueued` ties a message to its enrolment and step, `VariantAssigned` a step to its
 * variant, `EnrollmentStarted` an enrolment to its start), so the sink keeps those links in the
 * state database, in the same transaction as its checkpoint. A replay from 0 rebuilds them exactly,
 * in log order, so the same event always gets the same row.
 *
 * Changes made while a batch is built stay in memory (`pending`) until the batch is in ClickHouse
 * and `commit` runs; `discard` forgets them when the insert is abandoned. A commit may also save
 * links found in later batches already mapped, so every answer about a step is bounded by the
 * position asked about (what the log said up to that event): an event mapped again after a crash
 * gets the same row even when a link from later in the log is already saved.
 */
import type { StateDb } from '../state/state-db';

export interface EnrollmentLink {
  scenarioId: string;
  startedAtMs: number;
}

/** A step an enrolment reached: where it first did, and its variant once known and from where. */
interface StepLink {
  variant: string;
  position: number;
  variantPosition: number;
}

const variantAt = (step: StepLink, position: number) => (step.variantPosition <= position ? step.variant : '');

export interface MessageLink {
  enrollmentId: string;
  scenarioId: string;
  stepId: string;
  variant: string;
}

/** A row saved before variant_position existed: its variant counts from the step's first event. */
const VARIANT_POSITION = 'COALESCE(variant_position, first_position)';

/** Where the links are kept (in the sink's state database, see sink-state.ts). */
export const FUNNEL_CONTEXT_TABLES = ['analytics_enrollments', 'analytics_messages', 'analytics_enrollment_steps'];

export class FunnelContext {
  private readonly pending = {
    enrollments: new Map<string, EnrollmentLink>(),
    messages: new Map<string, MessageLink>(),
    /** enrollment id -> step id -> the step as reached (see StepLink) */
    steps: new Map<string, Map<string, StepLink>>(),
  };
  private readonly statements;

  constructor(db: StateDb) {
    FunnelContext.setup(db);
    this.statements = {
      enrollment: db.prepare<[string], { scenario_id: string; started_at_ms: number }>(
        'SELECT scenario_id, started_at_ms FROM analytics_enrollments WHERE enrollment_id = ?',
      ),
      message: db.prepare<[string], { enrollment_id: string; scenario_id: string; step_id: string; variant: string }>(
        'SELECT enrollment_id, scenario_id, step_id, variant FROM analytics_messages WHERE message_id = ?',
      ),
      steps: db.prepare<[string, number], { step_id: string; variant: string; variant_position: number }>(
        `SELECT step_id, variant, ${VARIANT_POSITION} AS variant_position FROM analytics_enrollment_steps
         WHERE enrollment_id = ? AND first_position < ? ORDER BY first_position`,
      ),
      step: db.prepare<[string, string], { variant: string; first_position: number; variant_position: number }>(
        `SELECT variant, first_position, ${VARIANT_POSITION} AS variant_position FROM analytics_enrollment_steps WHERE enrollment_id = ? AND step_id = ?`,
      ),
      saveEnrollment: db.prepare<[string, string, number]>(
        'INSERT OR IGNORE INTO analytics_enrollments (enrollment_id, scenario_id, started_at_ms) VALUES (?, ?, ?)',
      ),
      saveMessage: db.prepare<[string, string, string, string, string]>(
        'INSERT OR REPLACE INTO analytics_messages (message_id, enrollment_id, scenario_id, step_id, variant) VALUES (?, ?, ?, ?, ?)',
      ),
      saveStep: db.prepare<[string, string, string, number, number]>(
        `INSERT INTO analytics_enrollment_steps (enrollment_id, step_id, variant, first_position, variant_position) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (enrollment_id, step_id) DO UPDATE SET variant = excluded.variant, variant_position = excluded.variant_position`,
      ),
    };
  }

  static setup(db: StateDb): void {
    // WITHOUT ROWID: keyed by text, a table with rowids is two B-trees (the rows and the key's index),
    // so every saved link was written twice and every look-up searched twice. Files made before keep
    // their tables; both kinds answer the same.
    db.exec(`
      CREATE TABLE IF NOT EXISTS analytics_enrollments (enrollment_id TEXT PRIMARY KEY, scenario_id TEXT NOT NULL, started_at_ms INTEGER NOT NULL)
        WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS analytics_messages (message_id TEXT PRIMARY KEY, enrollment_id TEXT NOT NULL, scenario_id TEXT NOT NULL,
        step_id TEXT NOT NULL, variant TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS analytics_enrollment_steps (enrollment_id TEXT NOT NULL, step_id TEXT NOT NULL, variant TEXT NOT NULL,
        first_position INTEGER NOT NULL, variant_position INTEGER, PRIMARY KEY (enrollment_id, step_id)) WITHOUT ROWID;`);
    // Files of versions before variant_position: their rows answer as if the variant was known from
    // the step's first event (what those versions did).
    const columns = db.prepare<[], { name: string }>('PRAGMA table_info(analytics_enrollment_steps)').all();
    if (!columns.some((column) => column.name === 'variant_position')) db.exec('ALTER TABLE analytics_enrollment_steps ADD COLUMN variant_position INTEGER');
  }

  static reset(db: StateDb): void {
    for (const table of FUNNEL_CONTEXT_TABLES) db.exec(`DELETE FROM ${table}`);
  }

  enrollment(enrollmentId: string): EnrollmentLink | undefined {
    const pending = this.pending.enrollments.get(enrollmentId);
    if (pending) return pending;
    const row = this.statements.enrollment.get(enrollmentId);
    return row ? { scenarioId: row.scenario_id, startedAtMs: row.started_at_ms } : undefined;
  }

  startEnrollment(enrollmentId: string, link: EnrollmentLink): void {
    // The first start wins, as in the log (a re-delivered EnrollmentStarted changes nothing).
    if (!this.enrollment(enrollmentId)) this.pending.enrollments.set(enrollmentId, link);
  }

  message(messageId: string): MessageLink | undefined {
    const pending = this.pending.messages.get(messageId);
    if (pending) return pending;
    const row = this.statements.message.get(messageId);
    return row ? { enrollmentId: row.enrollment_id, scenarioId: row.scenario_id, stepId: row.step_id, variant: row.variant } : undefined;
  }

  linkMessage(messageId: string, link: MessageLink): void {
    this.pending.messages.set(messageId, link);
  }

  /**
   * Steps the enrolment reached before `position`, in the order it reached them, with their variants
   * as known before it. Bounded by position, so the answer is the same whether or not later links
   * were already saved.
   */
  steps(enrollmentId: string, beforePosition: number): Map<string, string> {
    const steps = new Map<string, string>();
    for (const row of this.statements.steps.all(enrollmentId, beforePosition)) {
      steps.set(row.step_id, row.variant_position < beforePosition ? row.variant : '');
    }
    const pending = [...(this.pending.steps.get(enrollmentId) ?? [])].filter(([, step]) => step.position < beforePosition);
    for (const [stepId, step] of pending.sort((a, b) => a[1].position - b[1].position)) {
      steps.set(stepId, step.variantPosition < beforePosition ? step.variant : '');
    }
    return steps;
  }

  /** The step's variant as known at `position` (the event there included); '' when not known yet. */
  variantAt(enrollmentId: string, stepId: string, position: number): string | undefined {
    const step = this.step(enrollmentId, stepId);
    return step && variantAt(step, position);
  }

  /**
   * Records that the enrolment reached the step at `position`; a variant, once known, sticks to the
   * step. Returns the step's variant as known there (what `variantAt` would answer, without a second
   * look-up: the mapping asks for every step event).
   */
  reachStep(enrollmentId: string, stepId: string, variant: string, position: number): string {
    const known = this.step(enrollmentId, stepId);
    if (known && (known.variant !== '' || variant === '')) return variantAt(known, position);
    let steps = this.pending.steps.get(enrollmentId);
    if (!steps) this.pending.steps.set(enrollmentId, (steps = new Map()));
    steps.set(stepId, { variant, position: known?.position ?? position, variantPosition: position });
    return variant;
  }

  /** The step as last known, later links included. */
  private step(enrollmentId: string, stepId: string): StepLink | undefined {
    const pending = this.pending.steps.get(enrollmentId)?.get(stepId);
    if (pending) return pending;
    const row = this.statements.step.get(enrollmentId, stepId);
    return row ? { variant: row.variant, position: row.first_position, variantPosition: row.variant_position } : undefined;
  }

  /** Writes the pending links (call inside the transaction that moves the checkpoint). */
  commit(): void {
    for (const [id, link] of this.pending.enrollments) this.statements.saveEnrollment.run(id, link.scenarioId, link.startedAtMs);
    for (const [id, link] of this.pending.messages) this.statements.saveMessage.run(id, link.enrollmentId, link.scenarioId, link.stepId, link.variant);
    for (const [enrollmentId, steps] of this.pending.steps) {
      for (const [stepId, { variant, position, variantPosition }] of steps) {
        this.statements.saveStep.run(enrollmentId, stepId, variant, position, variantPosition);
      }
    }
    this.discard();
  }

  discard(): void {
    this.pending.enrollments.clear();
    this.pending.messages.clear();
    this.pending.steps.clear();
  }
}
