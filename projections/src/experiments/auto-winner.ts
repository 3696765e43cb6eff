/**
 * Concluding a step's A/B test: by itself (`autoWinner`) or by hand (promote). The conclusion is
 * the `ExperimentConcluded` event on the workspace's scenarios stream; from its position in the log
 * on, `decide` gives new enrolments at that step the winner (the holdout keeps its share) and
 * leaves existing assignments alone. Pure: the host supplies the counts, the definition and the
 * time.
 */
import type { ScenarioDefinition, SendStep } from '../scenarios/scenario-definition';
import { HOLDOUT_KEY } from '../scenarios/parse-scenario';
import { analyseExperiment, currentWinner, experimentSetup, type ExperimentAnalysis } from './analyse-experiment';
import type { ArmCounts } from './experiment-ledger';

export const EXPERIMENT_CONCLUDED = 'ExperimentConcluded';

export type ConclusionCause =
  /** The auto-winner rule held after the event `eventId` (an exposure or a conversion) was counted. */
  | { kind: 'auto'; eventId: string; alpha: number; minExposures: number }
  /** `POST /api/experiments/:scenarioId/:stepId/promote`. */
  | { kind: 'manual'; requestedBy: string };

export interface ExperimentConcluded {
  scenarioId: string;
  stepId: string;
  /** The scenario version whose step configuration the decision was made on. */
  version: number;
  winner: string;
  cause: ConclusionCause;
  /** The counts and statistics the decision was made on. */
  analysis: ExperimentAnalysis;
  concludedAt: string;
}

/** Typed failures of a manual promote; the HTTP edge maps them to status codes. */
export class ExperimentNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExperimentNotFoundError';
  }
}

export class ExperimentAlreadyConcludedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExperimentAlreadyConcludedError';
  }
}

export class UnknownVariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownVariantError';
  }
}

/** The A/B send step `stepId` of `definition`, or undefined if there is no such step or it is not an A/B test. */
export function experimentStep(definition: ScenarioDefinition, stepId: string): SendStep | undefined {
  const step = definition.steps.find((s) => s.id === stepId);
  if (!step || !('send' in step)) return undefined;
  const send = step.send;
  return send.variants?.length || send.holdout ? send : undefined;
}

/**
 * The conclusion due now under the step's autoWinner rule, or undefined: not configured, already
 * concluded, too few exposures, a sample ratio mismatch, or no winner yet at the step's alpha.
 */
export function decideAutoWinner(input: {
  definition: ScenarioDefinition;
  version: number;
  stepId: string;
  arms: ArmCounts[];
  concluded: boolean;
  /** The event after which the counts were taken. */
  causeEventId: string;
  now: number;
}): ExperimentConcluded | undefined {
  if (input.concluded) return undefined;
  const send = experimentStep(input.definition, input.stepId);
  if (!send?.autoWinner || !send.variants || send.variants.length < 2) return undefined;
  const setup = experimentSetup(send);
  // The cheap rule first: this runs after every exposure and conversion.
  if (currentWinner(setup, input.arms) === null) return undefined;
  const analysis = analyseExperiment(setup, input.arms);
  if (analysis.winner === null) return undefined;
  return {
    scenarioId: input.definition.id,
    stepId: input.stepId,
    version: input.version,
    winner: analysis.winner,
    cause: {
      kind: 'auto',
      eventId: input.causeEventId,
      alpha: send.autoWinner.alpha ?? analysis.alpha,
      minExposures: send.autoWinner.minExposures,
    },
    analysis,
    concludedAt: new Date(input.now).toISOString(),
  };
}

/** A conclusion by hand; throws a typed error for an unknown step or variant, or one already concluded. */
export function decidePromotion(input: {
  definition: ScenarioDefinition;
  version: number;
  stepId: string;
  variant: string;
  arms: ArmCounts[];
  concluded: boolean;
  requestedBy: string;
  now: number;
}): ExperimentConcluded {
  const send = experimentStep(input.definition, input.stepId);
  if (!send || !send.variants || send.variants.length < 2) {
    throw new ExperimentNotFoundError(`Scenario ${input.definition.id} has no A/B step ${input.stepId}`);
  }
  const keys = send.variants.map((v) => v.key);
  if (!keys.includes(input.variant)) {
    const extra = input.variant === HOLDOUT_KEY ? ' (the holdout cannot be promoted)' : '';
    throw new UnknownVariantError(`${JSON.stringify(input.variant)} is not a variant of step ${input.stepId}${extra}; the variants are ${keys.join(', ')}`);
  }
  if (input.concluded) {
    throw new ExperimentAlreadyConcludedError(`The experiment of ${input.definition.id}/${input.stepId} is already concluded`);
  }
  return {
    scenarioId: input.definition.id,
    stepId: input.stepId,
    version: input.version,
    winner: input.variant,
    cause: { kind: 'manual', requestedBy: input.requestedBy },
    analysis: analyseExperiment(experimentSetup(send), input.arms),
    concludedAt: new Date(input.now).toISOString(),
  };
}
