/**
 * A workspace's templates, read from and written to its `templates-{workspace}` stream. Reading
 * folds the stream; the fold is cached per workspace because the dispatcher looks a template up for
 * every message, and dropped on every write here (the renderer runs in this process, so that is all
 * the invalidation it needs; `invalidate` is there for anything else that appends). Writes validate
 * by compiling, then append against the stream's revision, so two concurrent edits cannot both win.
 */
import type { EventStore, NewEvent, RecordedEvent } from '../event-store/event-store.port';
import { InvalidDefinitionError, NotFoundError } from '../http/http-errors';
import type { Clock } from '../shared/clock';
import { uuidv7 } from '../shared/ids';
import { compileTemplate } from './template-compiler';
import {
  evolveTemplates,
  initialTemplatesState,
  isTemplateEventType,
  type ParsedInput,
  parseTemplateInput,
  sameContent,
  type StoredTemplate,
  TEMPLATE_DELETED,
  TEMPLATE_SAVED,
  type TemplateDeletedData,
  type TemplateEvent,
  type TemplateSavedData,
  templatesStream,
  type TemplatesState,
} from './template';

/** What the renderer needs: the current version of a template. */
export interface TemplateSource {
  get(workspace: string, id: string): Promise<StoredTemplate | undefined>;
}

export class TemplateStore implements TemplateSource {
  private readonly cache = new Map<string, Promise<TemplatesState>>();

  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
  ) {}

  /** The current templates (cached until the next write). */
  read(workspace: string): Promise<TemplatesState> {
    let state = this.cache.get(workspace);
    if (!state) {
      state = this.fold(workspace);
      this.cache.set(workspace, state);
      // A failed read is not remembered.
      state.catch(() => this.cache.get(workspace) === state && this.cache.delete(workspace));
    }
    return state;
  }

  invalidate(workspace: string): void {
    this.cache.delete(workspace);
  }

  async list(workspace: string): Promise<StoredTemplate[]> {
    return [...(await this.read(workspace)).templates.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  async get(workspace: string, id: string): Promise<StoredTemplate | undefined> {
    return (await this.read(workspace)).templates.get(id);
  }

  async require(workspace: string, id: string): Promise<StoredTemplate> {
    const template = await this.get(workspace, id);
    if (!template) throw new NotFoundError(`Template ${id} does not exist in workspace ${workspace}`);
    return template;
  }

  /**
   * Validates (front matter, Liquid, MJML in strict mode) and saves a new version; saving the same
   * content again changes nothing. `created` is true when the id had no current template.
   */
  async save(workspace: string, id: string, input: unknown): Promise<{ id: string; version: number; created: boolean; changed: boolean }> {
    const parsed = await validate(id, input);
    const state = await this.fold(workspace);
    const current = state.templates.get(id);
    if (current && sameContent(current, parsed.content)) return { id, version: current.version, created: false, changed: false };
    const version = (state.lastVersion.get(id) ?? 0) + 1;
    await this.append(workspace, state.revision, [saved(id, parsed, version)]);
    return { id, version, created: !current, changed: true };
  }

  async delete(workspace: string, id: string): Promise<void> {
    const state = await this.fold(workspace);
    if (!state.templates.has(id)) throw new NotFoundError(`Template ${id} does not exist in workspace ${workspace}`);
    await this.append(workspace, state.revision, [{ type: TEMPLATE_DELETED, data: { id } satisfies TemplateDeletedData }]);
  }

  /**
   * Saves a set of templates in one append, only if the workspace never had any (its stream does
   * not exist): all of them or none, and never again once someone has edited or deleted them.
   */
  async seed(workspace: string, templates: Array<{ id: string; parsed: ParsedInput }>): Promise<string[]> {
    const state = await this.fold(workspace);
    if (state.revision >= 0 || templates.length === 0) return [];
    for (const { parsed } of templates) await validateParsed(parsed);
    await this.append(
      workspace,
      -1,
      templates.map(({ id, parsed }) => saved(id, parsed, 1)),
    );
    return templates.map((t) => t.id);
  }

  private async fold(workspace: string): Promise<TemplatesState> {
    const state = initialTemplatesState();
    for (const event of await this.store.readStream(templatesStream(workspace))) {
      if (isTemplateEventType(event.type)) evolveTemplates(state, toTemplateEvent(event));
      else state.revision = event.revision;
    }
    return state;
  }

  private async append(workspace: string, revision: number, events: Array<{ type: string; data: unknown }>): Promise<void> {
    const now = this.clock.now().toISOString();
    const batch: NewEvent[] = events.map(({ type, data }) => ({
      id: uuidv7(),
      type,
      data,
      metadata: { workspace, occurredAt: now, receivedAt: now, schemaVersion: 1 },
    }));
    try {
      await this.store.append(templatesStream(workspace), batch, { expectedRevision: revision < 0 ? 'no_stream' : revision });
    } finally {
      this.invalidate(workspace);
    }
  }
}

function toTemplateEvent(event: RecordedEvent): TemplateEvent {
  return { type: event.type, data: event.data, revision: event.revision, occurredAt: event.metadata.occurredAt } as TemplateEvent;
}

function saved(id: string, parsed: ParsedInput, version: number): { type: string; data: TemplateSavedData } {
  return { type: TEMPLATE_SAVED, data: { template: { id, ...parsed.content }, version } };
}

/** Parses and compiles; every problem names its path and, for Liquid and MJML, the line and column. */
async function validate(id: string, input: unknown): Promise<ParsedInput> {
  const result = parseTemplateInput(id, input);
  if (!result.ok) throw new InvalidDefinitionError('template', result.problems);
  await validateParsed(result.parsed);
  return result.parsed;
}

async function validateParsed(parsed: ParsedInput): Promise<void> {
  const compiled = await compileTemplate(parsed.content, parsed.bodyLineOffset);
  if (!compiled.ok) throw new InvalidDefinitionError('template', compiled.problems);
}
