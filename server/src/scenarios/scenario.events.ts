/** Lifecycle of scenario definitions, on the workspace's `scenarios-{workspace}` stream. */
import type { ScenarioDefinition } from '@herald/projections';

export const SCENARIO_PUBLISHED = 'ScenarioPublished';
export const SCENARIO_PAUSED = 'ScenarioPaused';
export const SCENARIO_RESUMED = 'ScenarioResumed';
export const SCENARIO_ARCHIVED = 'ScenarioArchived';
/** An A/B step's experiment was concluded (by its autoWinner rule or by hand): `ExperimentConcluded` of @herald/projections. */
export const EXPERIMENT_CONCLUDED = 'ExperimentConcluded';
/** Events of the scenarios stream: any of them changes what the engine decides on. */
export const SCENARIO_LIFECYCLE_TYPES = [SCENARIO_PUBLISHED, SCENARIO_PAUSED, SCENARIO_RESUMED, SCENARIO_ARCHIVED, EXPERIMENT_CONCLUDED];

export interface ScenarioPublishedData {
  definition: ScenarioDefinition;
  version: number;
}

export interface ScenarioStatusChangedData {
  scenarioId: string;
}

export function scenariosStream(workspace: string): string {
  return `scenarios-${workspace}`;
}
