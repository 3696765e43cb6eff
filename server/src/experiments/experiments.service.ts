/**
 * The experiment API's use cases: the results of one A/B step from the experiments projection's
 * counts, and concluding it by hand. Failures are the typed errors of @herald/projections (and
 * NotFoundError for a scenario); the controller maps them to status codes.
 */
import {
  analyseExperiment,
  decidePromotion,
  type ExperimentAnalysis,
  ExperimentAlreadyConcludedError,
  ExperimentNotFoundError,
  experimentSetup,
  experimentStep,
} from '@herald/projections';
import { WrongExpectedRevisionError } from '../event-store/errors';
import type { Clock } from '../shared/clock';
import type { StateDb } from '../state/state-db';
import type { ScenarioCatalog, ScenarioCatalogSnapshot } from '../scenarios/scenario-catalog';
import { committedCounts } from './experiments.projection';

export interface ExperimentResults extends ExperimentAnalysis {
  scenarioId: string;
  stepId: string;
  /** The scenario version whose step configuration (weights, holdout, control, alpha) the analysis uses. */
  version: number;
  /** The conclusion with its cause and the counts it was decided on, or null. */
  conclusion: null | { eventId: string; winner: string; cause: unknown; concludedAt: string; position: number };
}

const MAX_ATTEMPTS = 20;

export class ExperimentsService {
  constructor(
    private readonly db: StateDb,
    private readonly catalog: ScenarioCatalog,
    private readonly clock: Clock,
  ) {}

  async results(workspace: string, scenarioId: string, stepId: string): Promise<ExperimentResults> {
    const catalog = await this.catalog.read(workspace);
    const { send, version } = this.stepOf(catalog, scenarioId, stepId);
    const conclusion = catalog.conclusion(scenarioId, stepId);
    const analysis = analyseExperiment(experimentSetup(send), committedCounts(this.db, workspace, scenarioId, stepId), {
      concluded: conclusion && { winner: conclusion.winner, eventId: conclusion.eventId },
    });
    return {
      scenarioId,
      stepId,
      version,
      ...analysis,
      conclusion: conclusion
        ? {
            eventId: conclusion.eventId,
            winner: conclusion.winner,
            cause: conclusion.data.cause,
            concludedAt: conclusion.data.concludedAt,
            position: conclusion.position,
          }
        : null,
    };
  }

  /** Concludes the step's experiment for `variant`; throws when the step or variant is unknown or it is concluded already. */
  async promote(workspace: string, scenarioId: string, stepId: string, variant: string): Promise<{ eventId: string; winner: string }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const catalog = await this.catalog.read(workspace);
      const { version, definition } = this.stepOf(catalog, scenarioId, stepId);
      const data = decidePromotion({
        definition,
        version,
        stepId,
        variant,
        arms: committedCounts(this.db, workspace, scenarioId, stepId),
        concluded: catalog.conclusion(scenarioId, stepId) !== undefined,
        requestedBy: 'admin',
        now: this.clock.now().getTime(),
      });
      try {
        const { eventId, appended } = await this.catalog.conclude(workspace, catalog.revision, data);
        // The derived id was already in the log: the auto-winner (or another promote) got there first.
        if (!appended) throw new ExperimentAlreadyConcludedError(`The experiment of ${scenarioId}/${stepId} is already concluded`);
        return { eventId, winner: variant };
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError)) throw error;
        // The catalog changed meanwhile (a publish, a conclusion): decide again on what is there now.
      }
    }
    throw new Error(`Could not conclude ${scenarioId}/${stepId} after ${MAX_ATTEMPTS} attempts (too much contention)`);
  }

  private stepOf(catalog: ScenarioCatalogSnapshot, scenarioId: string, stepId: string) {
    const latest = catalog.latest(scenarioId);
    if (!latest) throw new ExperimentNotFoundError(`No scenario ${scenarioId}`);
    const send = experimentStep(latest.definition, stepId);
    if (!send) {
      const exists = latest.definition.steps.some((s) => s.id === stepId);
      throw new ExperimentNotFoundError(
        exists ? `Step ${stepId} of scenario ${scenarioId} is not an A/B test (no variants or holdout)` : `Scenario ${scenarioId} has no step ${stepId}`,
      );
    }
    return { send, version: latest.version, definition: latest.definition };
  }
}
