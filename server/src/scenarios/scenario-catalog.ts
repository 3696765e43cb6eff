/**
 * Scenario definitions and their lifecycle, read from and written to `scenarios-{workspace}`. Every
 * publish is an event with the next version; a running enrolment keeps reading the version it
 * started on (see `decide`), so all versions stay available. Writes append against the stream's
 * revision, so two concurrent publishes cannot both win.
 */
import {
  type ExperimentConcluded,
  parseScenarioDefinition,
  type ScenarioCatalogView,
  scenarioReferences,
  type ScenarioDefinition,
  type ScenarioStatus,
} from '@herald/projections';
import { isDeepStrictEqual } from 'node:util';
import type { EventStore, NewEvent } from '../event-store/event-store.port';
import { ConflictError, InvalidDefinitionError, NotFoundError } from '../http/http-errors';
import type { Clock } from '../shared/clock';
import { uuidv5, uuidv7 } from '../shared/ids';
import {
  EXPERIMENT_CONCLUDED,
  SCENARIO_ARCHIVED,
  SCENARIO_PAUSED,
  SCENARIO_PUBLISHED,
  SCENARIO_RESUMED,
  type ScenarioPublishedData,
  type ScenarioStatusChangedData,
  scenariosStream,
} from './scenario.events';

export interface ScenarioEntry {
  id: string;
  status: ScenarioStatus;
  /** Every published version, oldest first. */
  versions: Array<{ version: number; definition: ScenarioDefinition; publishedAt: string; position: number }>;
  /** Step id -> the experiment's conclusion, if it was concluded. */
  conclusions: Record<string, ScenarioConclusion>;
}

export interface ScenarioConclusion {
  winner: string;
  /** The id of the ExperimentConcluded event. */
  eventId: string;
  position: number;
  data: ExperimentConcluded;
}

export interface ScenarioCatalogSnapshot extends ScenarioCatalogView {
  entries: Map<string, ScenarioEntry>;
  revision: number;
  conclusion(scenarioId: string, stepId: string): ScenarioConclusion | undefined;
}

/** The ids of the segments and templates a workspace has now, for the check at publish. */
export interface WorkspaceReferences {
  segmentIds(workspace: string): Promise<Set<string>>;
  templateIds(workspace: string): Promise<Set<string>>;
}

export class ScenarioCatalog {
  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    /** Without it (tests of the engine, the CLI), names are not checked at publish. */
    private readonly references?: WorkspaceReferences,
  ) {}

  async read(workspace: string): Promise<ScenarioCatalogSnapshot> {
    const entries = new Map<string, ScenarioEntry>();
    let revision = -1;
    for (const event of await this.store.readStream(scenariosStream(workspace))) {
      revision = event.revision;
      if (event.type === EXPERIMENT_CONCLUDED) {
        const data = event.data as ExperimentConcluded;
        const entry = entries.get(data.scenarioId);
        // The first conclusion of a step stands (the id derived from the step makes a second one a no-op anyway).
        if (entry && !entry.conclusions[data.stepId]) {
          entry.conclusions[data.stepId] = { winner: data.winner, eventId: event.id, position: event.position, data };
        }
      } else if (event.type === SCENARIO_PUBLISHED) {
        const { definition, version } = event.data as ScenarioPublishedData;
        const entry = entries.get(definition.id) ?? { id: definition.id, status: 'active' as ScenarioStatus, versions: [], conclusions: {} };
        entry.versions.push({ version, definition, publishedAt: event.metadata.occurredAt, position: event.position });
        if (entry.status === 'archived') entry.status = 'active';
        entries.set(definition.id, entry);
      } else {
        const entry = entries.get((event.data as ScenarioStatusChangedData).scenarioId);
        if (!entry) continue;
        entry.status = event.type === SCENARIO_PAUSED ? 'paused' : event.type === SCENARIO_ARCHIVED ? 'archived' : 'active';
      }
    }
    return catalogView(entries, revision);
  }

  async get(workspace: string, id: string): Promise<ScenarioEntry> {
    const entry = (await this.read(workspace)).entries.get(id);
    if (!entry) throw new NotFoundError(`Scenario ${id} does not exist in workspace ${workspace}`);
    return entry;
  }

  /** Validates, lints and publishes; an identical re-publish changes nothing. */
  async publish(workspace: string, input: unknown): Promise<{ id: string; version: number; created: boolean }> {
    const parsed = parseScenarioDefinition(input);
    if (!parsed.ok) throw new InvalidDefinitionError('scenario definition', parsed.problems);
    const definition = parsed.definition;
    const missing = await this.missingReferences(workspace, definition);
    if (missing.length > 0) throw new InvalidDefinitionError('scenario definition', missing);
    const catalog = await this.read(workspace);
    const entry = catalog.entries.get(definition.id);
    const latest = entry?.versions.at(-1);
    if (latest && entry?.status !== 'archived' && isDeepStrictEqual(latest.definition, definition)) {
      return { id: definition.id, version: latest.version, created: false };
    }
    const version = (latest?.version ?? 0) + 1;
    await this.append(workspace, catalog.revision, SCENARIO_PUBLISHED, { definition, version } satisfies ScenarioPublishedData);
    return { id: definition.id, version, created: true };
  }

  /**
   * Segments and templates the definition names that the workspace does not have: a typo would
   * otherwise fail every message at send time (`template_missing`), or leave a segment trigger that
   * never fires.
   */
  private async missingReferences(workspace: string, definition: ScenarioDefinition): Promise<Array<{ path: string; message: string }>> {
    if (!this.references) return [];
    const { segments, templates } = scenarioReferences(definition);
    const [segmentIds, templateIds] = await Promise.all([
      segments.length > 0 ? this.references.segmentIds(workspace) : new Set<string>(),
      templates.length > 0 ? this.references.templateIds(workspace) : new Set<string>(),
    ]);
    return [
      ...segments
        .filter(({ segment }) => !segmentIds.has(segment))
        .map(({ segment, path }) => ({ path, message: `segment "${segment}" does not exist in workspace ${workspace}; define it first (POST /api/segments)` })),
      ...templates
        .filter(({ template }) => !templateIds.has(template))
        .map(({ template, path }) => ({ path, message: `template "${template}" does not exist in workspace ${workspace}; save it first (PUT /api/templates/${template})` })),
    ];
  }

  /** The scenarios, archived ones aside, whose latest version names the segment. */
  async usingSegment(workspace: string, segmentId: string): Promise<string[]> {
    return (await this.read(workspace))
      .current()
      .filter(({ definition }) => scenarioReferences(definition).segments.some(({ segment }) => segment === segmentId))
      .map(({ definition }) => definition.id);
  }

  async setStatus(workspace: string, id: string, status: ScenarioStatus): Promise<ScenarioEntry> {
    const catalog = await this.read(workspace);
    const entry = catalog.entries.get(id);
    if (!entry) throw new NotFoundError(`Scenario ${id} does not exist in workspace ${workspace}`);
    if (entry.status === 'archived' && status !== 'archived') {
      throw new ConflictError(`Scenario ${id} is archived; publish it again to bring it back`);
    }
    if (entry.status !== status) {
      const type = status === 'paused' ? SCENARIO_PAUSED : status === 'archived' ? SCENARIO_ARCHIVED : SCENARIO_RESUMED;
      await this.append(workspace, catalog.revision, type, { scenarioId: id } satisfies ScenarioStatusChangedData);
    }
    return { ...entry, status };
  }

  /**
   * Appends the conclusion of a step's experiment against the catalog's revision. Its id is derived
   * from the experiment (workspace, scenario, step), so an experiment is concluded once however many
   * deciders race or a reactor re-handles its cause after a crash: returns false when it was already.
   */
  async conclude(workspace: string, revision: number, data: ExperimentConcluded): Promise<{ eventId: string; appended: boolean }> {
    const eventId = conclusionEventId(workspace, data.scenarioId, data.stepId);
    const event: NewEvent = {
      id: eventId,
      type: EXPERIMENT_CONCLUDED,
      data,
      metadata: { workspace, occurredAt: data.concludedAt, receivedAt: this.clock.now().toISOString(), schemaVersion: 1 },
    };
    const result = await this.store.append(scenariosStream(workspace), [event], { expectedRevision: revision < 0 ? 'no_stream' : revision });
    return { eventId, appended: result.appended > 0 };
  }

  private async append(workspace: string, revision: number, type: string, data: unknown): Promise<void> {
    const now = this.clock.now().toISOString();
    const event: NewEvent = { id: uuidv7(), type, data, metadata: { workspace, occurredAt: now, receivedAt: now, schemaVersion: 1 } };
    await this.store.append(scenariosStream(workspace), [event], { expectedRevision: revision < 0 ? 'no_stream' : revision });
  }
}

function catalogView(entries: Map<string, ScenarioEntry>, revision: number): ScenarioCatalogSnapshot {
  const latestOf = (entry: ScenarioEntry) => {
    const latest = entry.versions.at(-1)!;
    return { definition: latest.definition, version: latest.version, status: entry.status, position: latest.position };
  };
  return {
    entries,
    revision,
    current: () => [...entries.values()].filter((entry) => entry.status !== 'archived').map(latestOf),
    version: (id, version) => entries.get(id)?.versions.find((v) => v.version === version)?.definition,
    latest: (id) => {
      const entry = entries.get(id);
      return entry ? latestOf(entry) : undefined;
    },
    conclusion: (id, stepId) => entries.get(id)?.conclusions[stepId],
  };
}

/** The id of the one ExperimentConcluded an A/B step can have. */
export function conclusionEventId(workspace: string, scenarioId: string, stepId: string): string {
  return uuidv5(`${EXPERIMENT_CONCLUDED}|${workspace}|${scenarioId}|${stepId}`);
}

/** Only the scenarios published before `position`: an event never triggers a scenario published after it. */
export function asOfPosition(catalog: ScenarioCatalogSnapshot, position: number): ScenarioCatalogView {
  return {
    current: () => {
      const published = [];
      for (const entry of catalog.entries.values()) {
        if (entry.status === 'archived') continue;
        const version = [...entry.versions].reverse().find((v) => v.position < position);
        if (version) published.push({ definition: version.definition, version: version.version, status: entry.status });
      }
      return published;
    },
    version: catalog.version,
    latest: catalog.latest,
    // A conclusion applies to the causes logged after it, so a replay assigns as the first run did.
    conclusion: (id, stepId) => {
      const conclusion = catalog.entries.get(id)?.conclusions[stepId];
      return conclusion && conclusion.position < position ? conclusion : undefined;
    },
  };
}
