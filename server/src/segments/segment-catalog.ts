/**
 * Segment definitions, read from and written to the workspace's `segments-{workspace}` stream. The
 * stream is the source of truth, so the API answers with what is committed, not with what the
 * projection has caught up to. Writes append against the stream's revision: two concurrent edits
 * cannot both win.
 */
import {
  type Condition,
  parseSegmentDefinition,
  segmentsStream,
  type SegmentDefinition,
  validateSegmentGraph,
} from '@herald/projections';
import { isDeepStrictEqual } from 'node:util';
import type { EventStore, NewEvent } from '../event-store/event-store.port';
import { ConflictError, InvalidDefinitionError, NotFoundError } from '../http/http-errors';
import type { Clock } from '../shared/clock';
import { uuidv7 } from '../shared/ids';
import { SEGMENT_DEFINED, SEGMENT_DELETED, type SegmentDefinedData, type SegmentDeletedData } from './segment.events';

export interface CatalogEntry {
  definition: SegmentDefinition;
  version: number;
  definedAt: string;
}

export interface Catalog {
  entries: Map<string, CatalogEntry>;
  /** Revision of the stream, for the next append's expectation (-1 when it does not exist). */
  revision: number;
  /** Last version number used per id, including deleted ones, so versions never repeat. */
  lastVersion: Map<string, number>;
}

export class SegmentCatalog {
  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    /** The scenarios (not archived) that name a segment; without it, only other segments are checked. */
    private readonly scenariosUsing?: (workspace: string, segmentId: string) => Promise<string[]>,
  ) {}

  async read(workspace: string): Promise<Catalog> {
    const catalog: Catalog = { entries: new Map(), revision: -1, lastVersion: new Map() };
    for (const event of await this.store.readStream(segmentsStream(workspace))) {
      catalog.revision = event.revision;
      if (event.type === SEGMENT_DEFINED) {
        const data = event.data as SegmentDefinedData;
        catalog.entries.set(data.definition.id, { definition: data.definition, version: data.version, definedAt: event.metadata.occurredAt });
        catalog.lastVersion.set(data.definition.id, data.version);
      } else if (event.type === SEGMENT_DELETED) {
        catalog.entries.delete((event.data as SegmentDeletedData).segmentId);
      }
    }
    return catalog;
  }

  async get(workspace: string, id: string): Promise<CatalogEntry> {
    const entry = (await this.read(workspace)).entries.get(id);
    if (!entry) throw new NotFoundError(`Segment ${id} does not exist in workspace ${workspace}`);
    return entry;
  }

  /** Validates and publishes a definition; an identical re-publish changes nothing. */
  async define(workspace: string, input: unknown): Promise<{ id: string; version: number; created: boolean }> {
    const parsed = parseSegmentDefinition(input);
    if (!parsed.ok) throw new InvalidDefinitionError('segment definition', parsed.problems);
    const definition = parsed.definition;
    const catalog = await this.read(workspace);
    const current = catalog.entries.get(definition.id);
    if (current && isDeepStrictEqual(current.definition, definition)) return { id: definition.id, version: current.version, created: false };
    const others = [...catalog.entries.values()].map((entry) => entry.definition).filter((d) => d.id !== definition.id);
    const graphProblems = validateSegmentGraph([...others, definition]);
    if (graphProblems.length > 0) throw new InvalidDefinitionError('segment definition', graphProblems);
    const version = (catalog.lastVersion.get(definition.id) ?? 0) + 1;
    await this.append(workspace, catalog.revision, SEGMENT_DEFINED, { definition, version } satisfies SegmentDefinedData);
    return { id: definition.id, version, created: true };
  }

  async delete(workspace: string, id: string): Promise<void> {
    const catalog = await this.read(workspace);
    const entry = catalog.entries.get(id);
    if (!entry) throw new NotFoundError(`Segment ${id} does not exist in workspace ${workspace}`);
    const users = [...catalog.entries.values()].filter((other) => other.definition.id !== id && refersTo(other.definition, id));
    if (users.length > 0) {
      throw new ConflictError(`Segment ${id} is used by ${users.map((u) => u.definition.id).join(', ')}; change those first`);
    }
    // A scenario triggered by (or branching on) a deleted segment would go quiet without a word.
    const scenarios = (await this.scenariosUsing?.(workspace, id)) ?? [];
    if (scenarios.length > 0) {
      throw new ConflictError(`Segment ${id} is used by scenario ${scenarios.join(', ')}; change or archive it first`);
    }
    await this.append(workspace, catalog.revision, SEGMENT_DELETED, { segmentId: id, version: entry.version } satisfies SegmentDeletedData);
  }

  private async append(workspace: string, revision: number, type: string, data: unknown): Promise<void> {
    const now = this.clock.now().toISOString();
    const event: NewEvent = { id: uuidv7(), type, data, metadata: { workspace, occurredAt: now, receivedAt: now, schemaVersion: 1 } };
    await this.store.append(segmentsStream(workspace), [event], { expectedRevision: revision < 0 ? 'no_stream' : revision });
  }
}

function refersTo(definition: SegmentDefinition, id: string): boolean {
  const visit = (condition: Condition): boolean => {
    if ('segment' in condition) return condition.segment === id;
    if ('not' in condition) return visit(condition.not);
    if ('all' in condition) return condition.all.some(visit);
    if ('any' in condition) return condition.any.some(visit);
    return false;
  };
  return visit(definition.where);
}
