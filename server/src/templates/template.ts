/**
 * Message templates: what one is, the events that change a workspace's set of them (stream
 * `templates-{workspace}`), the fold that reads that stream, and the parsing of a template's input
 * (JSON fields or a file with YAML front matter). Compiling (Liquid, MJML) is in template-compiler.ts.
 */
import { CHANNELS, type Channel } from '@herald/projections';
import { type Document, parseDocument, visit } from 'yaml';
import { yamlTooDeep } from '../shared/yaml-nesting';

export const TEMPLATE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const TEMPLATE_FORMATS = ['mjml', 'liquid'] as const;
export type TemplateFormat = (typeof TEMPLATE_FORMATS)[number];
/** A body is rendered for each recipient, so it is kept well under the request limit. */
export const MAX_TEMPLATE_BYTES = 256 * 1024;

/** What a template says, apart from its identity. */
export interface TemplateContent {
  format: TemplateFormat;
  /** Absent: any channel the format suits (an `mjml` template is always `email`). */
  channel?: Channel;
  /** Email subject, push/in-app title (Liquid). A step's own subject overrides it. */
  subject?: string;
  /** MJML with Liquid in it (`mjml`), or Liquid text (`liquid`). */
  body: string;
  /** The email's text part (Liquid); generated from the HTML when absent. */
  text?: string;
  /** The link a push or in-app message opens (Liquid). */
  url?: string;
}

export interface Template extends TemplateContent {
  id: string;
  version: number;
}

export interface StoredTemplate extends Template {
  savedAt: string;
}

export interface Problem {
  path: string;
  message: string;
}

export function templatesStream(workspace: string): string {
  return `templates-${workspace}`;
}

// ---- events --------------------------------------------------------------------------------------

export const TEMPLATE_SAVED = 'TemplateSaved';
export const TEMPLATE_DELETED = 'TemplateDeleted';

export interface TemplateSavedData {
  template: TemplateContent & { id: string };
  version: number;
}

export interface TemplateDeletedData {
  id: string;
}

export type TemplateEvent =
  | { type: typeof TEMPLATE_SAVED; data: TemplateSavedData; revision: number; occurredAt: string }
  | { type: typeof TEMPLATE_DELETED; data: TemplateDeletedData; revision: number; occurredAt: string };

export interface TemplatesState {
  templates: Map<string, StoredTemplate>;
  /** Revision of the stream, for the next append's expectation (-1 when it does not exist). */
  revision: number;
  /** Last version used per id, deleted ones included, so a version number never means two things. */
  lastVersion: Map<string, number>;
}

export function initialTemplatesState(): TemplatesState {
  return { templates: new Map(), revision: -1, lastVersion: new Map() };
}

export function evolveTemplates(state: TemplatesState, event: TemplateEvent): TemplatesState {
  state.revision = event.revision;
  switch (event.type) {
    case TEMPLATE_SAVED: {
      const { template, version } = event.data;
      state.templates.set(template.id, { ...template, version, savedAt: event.occurredAt });
      state.lastVersion.set(template.id, version);
      return state;
    }
    case TEMPLATE_DELETED:
      state.templates.delete(event.data.id);
      return state;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

export function isTemplateEventType(type: string): type is TemplateEvent['type'] {
  return type === TEMPLATE_SAVED || type === TEMPLATE_DELETED;
}

/** The same content (what a re-publish of an unchanged file gives): no new version. */
export function sameContent(a: TemplateContent, b: TemplateContent): boolean {
  return a.format === b.format && a.channel === b.channel && a.subject === b.subject && a.body === b.body && a.text === b.text && a.url === b.url;
}

// ---- input ---------------------------------------------------------------------------------------

export interface ParsedInput {
  content: TemplateContent;
  /** Lines before the body in what was sent (the front matter), so problems point into the file. */
  bodyLineOffset: number;
}

const FIELDS = ['format', 'channel', 'subject', 'body', 'text', 'url', 'source'];
const FRONT_MATTER_FIELDS = ['subject', 'channel', 'text', 'url'];
/** Flow collections nested deeper are refused before the YAML parser runs (see shared/yaml-nesting.ts). */
const MAX_FRONT_MATTER_NESTING = 16;
/** Alias expansions allowed in front matter (yaml's guard against a "billion laughs" document). */
const MAX_FRONT_MATTER_ALIASES = 10;

/**
 * A template as sent to the API: JSON fields `{ format?, channel?, subject?, body, text?, url? }`,
 * or the file itself as `{ source, format? }`. Without `format`, a body that starts with `<mjml` is
 * MJML and anything else Liquid.
 */
export function parseTemplateInput(id: string, input: unknown): { ok: true; parsed: ParsedInput } | { ok: false; problems: Problem[] } {
  const problems: Problem[] = [];
  if (!TEMPLATE_ID_PATTERN.test(id)) {
    problems.push({ path: 'id', message: 'must be 1-64 characters of a-z, 0-9, _ and -, starting with a letter or digit' });
  }
  if (!isPlainObject(input)) return { ok: false, problems: [...problems, { path: '', message: 'send a JSON object with body (or source)' }] };
  for (const key of Object.keys(input)) if (!FIELDS.includes(key)) problems.push({ path: key, message: 'is not a template field' });
  if (input.format !== undefined && !(TEMPLATE_FORMATS as readonly unknown[]).includes(input.format)) {
    problems.push({ path: 'format', message: `must be one of ${TEMPLATE_FORMATS.join(', ')}` });
  }
  let fields: Record<string, unknown> = input;
  let bodyLineOffset = 0;
  if (input.source !== undefined) {
    if (typeof input.source !== 'string') problems.push({ path: 'source', message: 'must be a string (the file)' });
    else {
      const clash = ['subject', 'channel', 'body', 'text', 'url'].filter((key) => input[key] !== undefined);
      if (clash.length > 0) problems.push({ path: 'source', message: `cannot be sent with ${clash.join(', ')}: put them in the front matter` });
      const file = splitFrontMatter(input.source);
      if (!file.ok) problems.push(...file.problems);
      else {
        fields = { ...file.fields, body: file.body, format: input.format };
        bodyLineOffset = file.bodyLineOffset;
      }
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  return checkFields(fields, bodyLineOffset);
}

/** Reads a template file (`<id>.mjml` or `<id>.liquid`) with its front matter. */
export function parseTemplateFile(fileName: string, source: string): { ok: true; id: string; parsed: ParsedInput } | { ok: false; problems: Problem[] } {
  const match = /^(.+)\.(mjml|liquid)$/.exec(fileName);
  if (!match) return { ok: false, problems: [{ path: 'file', message: `${fileName}: a template file is <id>.mjml or <id>.liquid` }] };
  const [, id, format] = match;
  const result = parseTemplateInput(id, { source, format });
  return result.ok ? { ok: true, id, parsed: result.parsed } : result;
}

/** The file form of a template, as `parseTemplateFile` reads it back. */
export function templateFile(template: TemplateContent): string {
  const front: Record<string, string> = {};
  if (template.channel && !(template.format === 'mjml' && template.channel === 'email')) front.channel = template.channel;
  if (template.subject !== undefined) front.subject = template.subject;
  if (template.url !== undefined) front.url = template.url;
  if (template.text !== undefined) front.text = template.text;
  const yaml = Object.entries(front)
    .map(([key, value]) => `${key}: ${yamlString(value)}`)
    .join('\n');
  return yaml ? `---\n${yaml}\n---\n${template.body}` : template.body;
}

/** A block scalar for readable multi-line values where one can say it exactly, else a quoted string. */
function yamlString(value: string): string {
  const lines = value.replace(/\n$/, '');
  if (!value.includes('\n') || /\n\n$/.test(value) || /^\s/.test(value) || lines.includes('\r')) return JSON.stringify(value);
  return `${value.endsWith('\n') ? '|' : '|-'}\n${lines.replace(/^(?=.)/gm, '  ')}`;
}

function splitFrontMatter(
  source: string,
): { ok: true; fields: Record<string, unknown>; body: string; bodyLineOffset: number } | { ok: false; problems: Problem[] } {
  const text = source.replace(/^\uFEFF/, '');
  const open = /^---[ \t]*\r?\n/.exec(text);
  if (!open) return { ok: true, fields: {}, body: text, bodyLineOffset: 0 };
  const close = /^---[ \t]*(\r?\n|$)/m.exec(text.slice(open[0].length));
  if (!close) return { ok: false, problems: [{ path: 'front matter', message: 'line 1, column 1: the front matter opened with --- is not closed with a --- line' }] };
  const yamlText = text.slice(open[0].length, open[0].length + close.index);
  const body = text.slice(open[0].length + close.index + close[0].length);
  const bodyLineOffset = 2 + (yamlText.match(/\n/g)?.length ?? 0);
  // Front matter holds four strings; flow collections nested this deep can only be an attack on the parser.
  const deep = yamlTooDeep(yamlText, MAX_FRONT_MATTER_NESTING);
  if (deep !== undefined) {
    return { ok: false, problems: [{ path: 'front matter', message: `line ${deep + 1}: nests lists or mappings more than ${MAX_FRONT_MATTER_NESTING} levels deep` }] };
  }
  const document = parseDocument(yamlText, { prettyErrors: true, uniqueKeys: true });
  const [error] = document.errors;
  if (error) {
    const at = error.linePos?.[0];
    const where = at ? `line ${at.line + 1}, column ${at.col}: ` : '';
    return { ok: false, problems: [{ path: 'front matter', message: `${where}${error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}` }] };
  }
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: MAX_FRONT_MATTER_ALIASES }) ?? {};
  } catch (error) {
    // yaml throws here (not in document.errors) for aliases: too many expansions, or no anchor.
    return { ok: false, problems: [{ path: 'front matter', message: yamlValueProblem(document, yamlText, error) }] };
  }
  if (!isPlainObject(value)) return { ok: false, problems: [{ path: 'front matter', message: 'line 2, column 1: must be a YAML mapping (subject, channel, text, url)' }] };
  const problems = Object.keys(value)
    .filter((key) => !FRONT_MATTER_FIELDS.includes(key))
    .map((key) => ({ path: `front matter.${key}`, message: `is not a front matter field (use ${FRONT_MATTER_FIELDS.join(', ')})` }));
  return problems.length > 0 ? { ok: false, problems } : { ok: true, fields: value, body, bodyLineOffset };
}

/** What `toJS` threw, at the alias it is about (the first one when it names none), in file lines. */
function yamlValueProblem(document: Document, yamlText: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const unresolved = /^Unresolved alias[^:]*: (.+)$/.exec(message)?.[1];
  let offset: number | undefined;
  let alias: string | undefined;
  visit(document, {
    Alias(_key, node) {
      if (unresolved !== undefined && node.source !== unresolved) return undefined;
      offset = node.range?.[0];
      alias = node.source;
      return visit.BREAK;
    },
  });
  let where = 'line 2, column 1';
  if (offset !== undefined) {
    const before = yamlText.slice(0, offset);
    where = `line ${(before.match(/\n/g)?.length ?? 0) + 2}, column ${offset - before.lastIndexOf('\n')}`;
  }
  if (unresolved !== undefined) return `${where}: the alias *${unresolved} has no anchor &${unresolved} before it`;
  if (/Excessive alias count/.test(message)) {
    return `${where}: aliases${alias ? ` (*${alias})` : ''} expand to more than ${MAX_FRONT_MATTER_ALIASES} copies; write the values out instead`;
  }
  return `${where}: the front matter cannot be read (${message.split('\n')[0]})`;
}

function checkFields(fields: Record<string, unknown>, bodyLineOffset: number): { ok: true; parsed: ParsedInput } | { ok: false; problems: Problem[] } {
  const problems: Problem[] = [];
  const { body, channel } = fields;
  if (typeof body !== 'string' || body.trim() === '') problems.push({ path: 'body', message: 'is required: the MJML or Liquid of the message' });
  else if (Buffer.byteLength(body) > MAX_TEMPLATE_BYTES) problems.push({ path: 'body', message: `is over ${MAX_TEMPLATE_BYTES / 1024} KB` });
  if (channel !== undefined && !(CHANNELS as readonly unknown[]).includes(channel)) {
    problems.push({ path: 'channel', message: `must be one of ${CHANNELS.join(', ')}` });
  }
  for (const key of ['subject', 'text', 'url'] as const) {
    if (fields[key] !== undefined && typeof fields[key] !== 'string') problems.push({ path: key, message: 'must be a string (Liquid)' });
  }
  if (problems.length > 0) return { ok: false, problems };
  const format = (fields.format as TemplateFormat | undefined) ?? (/^\s*<mjml[\s>]/.test(body as string) ? 'mjml' : 'liquid');
  if (format === 'mjml' && channel !== undefined && channel !== 'email') {
    return { ok: false, problems: [{ path: 'channel', message: 'an mjml template is an email; use format liquid for other channels' }] };
  }
  if (format === 'liquid' && fields.text !== undefined) {
    return { ok: false, problems: [{ path: 'text', message: 'only an mjml template has a separate text part; the body of a liquid template is the text' }] };
  }
  const content: TemplateContent = { format, body: body as string };
  const resolvedChannel = format === 'mjml' ? 'email' : (channel as Channel | undefined);
  if (resolvedChannel) content.channel = resolvedChannel;
  for (const key of ['subject', 'text', 'url'] as const) if (fields[key] !== undefined) content[key] = fields[key] as string;
  return { ok: true, parsed: { content, bodyLineOffset } };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
