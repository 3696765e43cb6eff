/**
 * Renders a message from a workspace's template. Each template version is compiled once (MJML to
 * HTML, Liquid parsed) and kept, so a recipient costs only Liquid renders. Any part that fails
 * fails the whole message with a `RenderError`: nothing half-rendered is ever returned.
 */
import type { Channel } from '@herald/projections';
import { LiquidError, type Template as LiquidTemplate, UndefinedVariableError } from 'liquidjs';
import type { RenderedContent } from '../channels/channel.port';
import { type MessageRenderer, RenderError, type RenderRequest } from '../channels/renderer.port';
import { htmlToText, resolveBreaks } from './html-to-text';
import type { StoredTemplate } from './template';
import { type CompiledTemplate, compileTemplate, htmlLiquid, textLiquid } from './template-compiler';
import type { TemplateSource } from './template-store';

/** A small insertion-ordered cache: old template versions and one-off subjects fall out. */
class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly limit: number) {
    super();
  }
  override set(key: K, value: V): this {
    if (!this.has(key) && this.size >= this.limit) this.delete(this.keys().next().value as K);
    return super.set(key, value);
  }
}

export class TemplateRenderer implements MessageRenderer {
  private readonly compiled = new BoundedMap<string, Promise<CompiledTemplate>>(1_000);
  private readonly subjects = new BoundedMap<string, LiquidTemplate[]>(1_000);

  constructor(private readonly templates: TemplateSource) {}

  async render(request: RenderRequest): Promise<RenderedContent> {
    const template = await this.templates.get(request.workspace, request.template);
    if (!template) throw new RenderError(`Template ${request.template} does not exist in workspace ${request.workspace}`, 'template_missing');
    return this.renderTemplate(template, request.channel, request.variables, request.subject, request.workspace);
  }

  /** Renders a given template (the preview API uses this with a template it has just read). */
  async renderTemplate(
    template: StoredTemplate,
    channel: Channel,
    variables: RenderRequest['variables'],
    stepSubject?: string,
    workspace = '',
  ): Promise<RenderedContent> {
    const id = template.id;
    if (template.format === 'mjml' && channel !== 'email') {
      throw new RenderError(`Template ${id} is an MJML email and cannot be sent as ${channel}`, 'template_invalid');
    }
    if (template.channel && template.channel !== channel) {
      throw new RenderError(`Template ${id} is for ${template.channel}, not ${channel}`, 'template_invalid');
    }
    const compiled = await this.compile(workspace, template);
    const scope: Record<string, unknown> = { ...variables };

    const subjectTemplate = stepSubject !== undefined ? this.stepSubject(id, stepSubject) : compiled.subject;
    const subject = subjectTemplate ? oneLine(run(textLiquid, subjectTemplate, scope, id, 'subject')) : undefined;
    if (channel === 'email' && !subject) {
      throw new RenderError(`Template ${id} renders an email without a subject: set subject in its front matter or on the step`, 'template_invalid');
    }
    const content: RenderedContent = { text: '' };
    if (subject !== undefined) content.subject = subject;
    if (compiled.html) {
      // The email's own <mj-title> and preheader may show the subject.
      scope.subject = subject;
      content.html = run(htmlLiquid, compiled.html, scope, id, 'body');
    }
    if (compiled.text) {
      const text = run(textLiquid, compiled.text, scope, id, compiled.html ? 'text' : 'body');
      content.text = compiled.textGenerated ? resolveBreaks(text) : text.trim();
    } else if (compiled.textFromRenderedHtml && content.html) {
      content.text = htmlToText(content.html);
    }
    if (compiled.url) content.url = run(textLiquid, compiled.url, scope, id, 'url').trim();
    return content;
  }

  private compile(workspace: string, template: StoredTemplate): Promise<CompiledTemplate> {
    const key = `${workspace}\u0000${template.id}\u0000${template.version}\u0000${template.savedAt}`;
    let compiled = this.compiled.get(key);
    if (!compiled) {
      compiled = compileTemplate(template).then((result) => {
        if (result.ok) return result.compiled;
        // Saved templates were validated; this is a template from before a stricter rule.
        throw new RenderError(
          `Template ${template.id} v${template.version} does not compile: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
          'template_invalid',
        );
      });
      this.compiled.set(key, compiled);
    }
    return compiled;
  }

  private stepSubject(id: string, source: string): LiquidTemplate[] {
    let parsed = this.subjects.get(source);
    if (!parsed) {
      try {
        parsed = textLiquid.parse(source);
      } catch (error) {
        throw new RenderError(`The step's subject for template ${id} is not valid Liquid: ${(error as Error).message}`, 'template_invalid');
      }
      this.subjects.set(source, parsed);
    }
    return parsed;
  }
}

function run(engine: typeof textLiquid, template: LiquidTemplate[], scope: object, id: string, part: string): string {
  try {
    return String(engine.renderSync(template, scope));
  } catch (error) {
    const missing = missingVariable(error);
    if (missing) throw new RenderError(`Template ${id}: ${part} uses ${missing}, which is not set and has no default`, 'missing_variable');
    throw new RenderError(`Template ${id}: ${part} failed to render: ${(error as Error).message}`, 'template_invalid');
  }
}

/** The name of the unset variable, through liquidjs's wrapping of errors in loops and blocks. */
function missingVariable(error: unknown): string | undefined {
  for (let current = error; current instanceof Error; current = (current as LiquidError).originalError) {
    if (current instanceof UndefinedVariableError || current.name === 'UndefinedVariableError' || current.name === 'InternalUndefinedVariableError') {
      const named = /undefined variable: ([^,\s]+)/.exec(current.message);
      return named?.[1] ?? (current as LiquidError).token?.getText();
    }
    if (!(current instanceof LiquidError)) break;
  }
  return undefined;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
