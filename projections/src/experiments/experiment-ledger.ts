/**
 * Exposures and conversions of the A/B tests in scenario steps, folded from the log.
 *
 * An exposure is an enrolment that reached an A/B step: its `VariantAssigned` (the holdout
 * included, keyed `holdout`). A conversion is the scenario's goal reached after the exposure: the
 * engine records `GoalReached` once per enrolment, only when the goal event falls within the goal's
 * window after the enrolment started; the exposure came at or after that start, so a goal at or
 * after the exposure is also within the window after the exposure. A goal reached before the
 * enrolment got to the step does not count for that step.
 *
 * The state is one small record per enrolment (`EnrollmentExposures`) and the counts per arm; the
 * fold of one event changes one enrolment's record and says which counts moved, so a writer can
 * keep the records and counts in a table and apply the changes (the server does), and the
 * in-memory `ExperimentLedger` below does the same for tests and simulations.
 */
import type { DomainEvent } from '../events';
import type { EnrollmentStarted, GoalReached, VariantAssigned } from '../scenarios/scenario-events';

/**
 * `experiment`: assigned by the weighted split while the test ran; `rollout`: assigned after the
 * experiment was concluded (the winner, or the holdout keeping its share).
 */
export type ExperimentPhase = 'experiment' | 'rollout';

export interface StepExposure {
  variant: string;
  /** When the enrolment reached the step (the assignment's decision time), ms since the epoch. */
  exposedAt: number;
  phase: ExperimentPhase;
  converted: boolean;
}

export interface EnrollmentExposures {
  workspace: string;
  enrollmentId: string;
  scenarioId: string;
  startedAt: number;
  /** When the goal event happened (enrolment start + GoalReached.afterMs). */
  goalAt?: number;
  steps: Record<string, StepExposure>;
}

/** Counts of one arm of one step's test. */
export interface ArmCounts {
  variant: string;
  phase: ExperimentPhase;
  exposures: number;
  conversions: number;
}

/** A change to the counts of one arm: +1 exposure and/or +1 conversion. */
export interface ArmChange extends ArmCounts {
  workspace: string;
  scenarioId: string;
  stepId: string;
}

export const EXPERIMENT_FOLD_TYPES = ['EnrollmentStarted', 'VariantAssigned', 'GoalReached'] as const;

export function enrollmentKey(workspace: string, enrollmentId: string): string {
  return `${workspace}\u0000${enrollmentId}`;
}

/** The enrolment an event of EXPERIMENT_FOLD_TYPES is about, or undefined for any other event. */
export function experimentEnrollmentOf(event: DomainEvent): string | undefined {
  if (!(EXPERIMENT_FOLD_TYPES as readonly string[]).includes(event.type)) return undefined;
  const id = (event.data as { enrollmentId?: unknown })?.enrollmentId;
  return typeof id === 'string' ? id : undefined;
}

/**
 * Folds one event into its enrolment's record (undefined when there is none yet). Returns the new
 * record (the same object when nothing changed) and the arm counts that moved. Never mutates.
 */
export function evolveEnrollmentExposures(
  record: EnrollmentExposures | undefined,
  event: DomainEvent,
): { record: EnrollmentExposures | undefined; changes: ArmChange[] } {
  const workspace = event.metadata.workspace;
  switch (event.type) {
    case 'EnrollmentStarted': {
      if (record) return { record, changes: [] };
      const data = event.data as EnrollmentStarted;
      const startedAt = Date.parse(event.metadata.receivedAt);
      return { record: { workspace, enrollmentId: data.enrollmentId, scenarioId: data.scenarioId, startedAt, steps: {} }, changes: [] };
    }
    case 'VariantAssigned': {
      const data = event.data as VariantAssigned;
      const exposedAt = Date.parse(event.metadata.occurredAt);
      // Without its start (a log that begins mid-enrolment) the exposure is the earliest moment known.
      const base = record ?? { workspace, enrollmentId: data.enrollmentId, scenarioId: data.scenarioId, startedAt: exposedAt, steps: {} };
      if (base.steps[data.stepId]) return { record: base, changes: [] };
      const phase: ExperimentPhase = data.concludedBy ? 'rollout' : 'experiment';
      const converted = base.goalAt !== undefined && base.goalAt >= exposedAt;
      const next = { ...base, steps: { ...base.steps, [data.stepId]: { variant: data.variant, exposedAt, phase, converted } } };
      const change: ArmChange = {
        workspace,
        scenarioId: base.scenarioId,
        stepId: data.stepId,
        variant: data.variant,
        phase,
        exposures: 1,
        conversions: converted ? 1 : 0,
      };
      return { record: next, changes: [change] };
    }
    case 'GoalReached': {
      if (!record || record.goalAt !== undefined) return { record, changes: [] };
      const data = event.data as GoalReached;
      const goalAt = record.startedAt + data.afterMs;
      const changes: ArmChange[] = [];
      const steps: Record<string, StepExposure> = {};
      for (const [stepId, exposure] of Object.entries(record.steps)) {
        if (!exposure.converted && exposure.exposedAt <= goalAt) {
          steps[stepId] = { ...exposure, converted: true };
          changes.push({
            workspace,
            scenarioId: record.scenarioId,
            stepId,
            variant: exposure.variant,
            phase: exposure.phase,
            exposures: 0,
            conversions: 1,
          });
        } else {
          steps[stepId] = exposure;
        }
      }
      return { record: { ...record, goalAt, steps }, changes };
    }
    default:
      return { record, changes: [] };
  }
}

/**
 * The fold over a whole log in memory: every enrolment's record and the counts per arm. A mutable
 * accumulator (like the simulator), for tests, simulations and the CLI; the server keeps the same
 * records and counts in SQLite.
 */
export class ExperimentLedger {
  private readonly records = new Map<string, EnrollmentExposures>();
  private readonly arms = new Map<string, ArmCounts>();

  /** Folds one event; returns the arm counts it moved. */
  record(event: DomainEvent): ArmChange[] {
    const enrollmentId = experimentEnrollmentOf(event);
    if (enrollmentId === undefined) return [];
    const key = enrollmentKey(event.metadata.workspace, enrollmentId);
    const { record, changes } = evolveEnrollmentExposures(this.records.get(key), event);
    if (record) this.records.set(key, record);
    for (const change of changes) {
      const armKey = [change.workspace, change.scenarioId, change.stepId, change.variant, change.phase].join('\u0000');
      const arm = this.arms.get(armKey) ?? { variant: change.variant, phase: change.phase, exposures: 0, conversions: 0 };
      this.arms.set(armKey, { ...arm, exposures: arm.exposures + change.exposures, conversions: arm.conversions + change.conversions });
    }
    return changes;
  }

  /** The counts of every arm of one step's test. */
  counts(workspace: string, scenarioId: string, stepId: string): ArmCounts[] {
    const prefix = [workspace, scenarioId, stepId, ''].join('\u0000');
    return [...this.arms.entries()].filter(([key]) => key.startsWith(prefix)).map(([, arm]) => arm);
  }
}
