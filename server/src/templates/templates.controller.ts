import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { CHANNELS, type Channel } from '@herald/projections';
import type { FastifyReply } from 'fastify';
import { RenderError } from '../channels/renderer.port';
import { AdminGuard } from '../http/admin.guard';
import { InvalidDefinitionError, NotFoundError } from '../http/http-errors';
import { workspaceFrom } from '../http/workspace.param';
import { SegmentQueries } from '../segments/segment-queries';
import { WorkspacesService } from '../workspaces/workspaces.service';
import { templateFile } from './template';
import { TemplateRenderer } from './template-renderer';
import { TemplateStore } from './template-store';

interface PreviewInput {
  userId?: string;
  traits: Record<string, unknown>;
  event: Record<string, unknown>;
  channel?: Channel;
  subject?: string;
}

@ApiTags('templates')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('api/templates')
export class TemplatesController {
  constructor(
    @Inject(TemplateStore) private readonly templates: TemplateStore,
    @Inject(TemplateRenderer) private readonly renderer: TemplateRenderer,
    @Inject(SegmentQueries) private readonly queries: SegmentQueries,
    @Inject(WorkspacesService) private readonly workspaces: WorkspacesService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Every template of the workspace, without bodies' })
  @ApiQuery({ name: 'workspace', required: false })
  async list(@Query('workspace') workspace?: string) {
    const templates = await this.templates.list(workspaceFrom(this.workspaces, workspace));
    return {
      templates: templates.map(({ id, format, channel, subject, version, savedAt }) => ({ id, format, channel, subject, version, savedAt })),
    };
  }

  @Get(':id')
  @ApiOperation({ summary: 'A template: its parts, version, and `source`, the file form (front matter + body)' })
  async get(@Param('id') id: string, @Query('workspace') workspace?: string) {
    const template = await this.templates.require(workspaceFrom(this.workspaces, workspace), id);
    return { ...template, source: templateFile(template) };
  }

  @Put(':id')
  @ApiOperation({
    summary:
      'Create or replace a template: JSON `{ format, channel?, subject?, body, text?, url? }`, or the file itself as `{ source, format? }` ' +
      '(`?format=` also works). Validated by compiling: malformed Liquid or MJML is a 400 naming the line and column. 201 when new',
  })
  @ApiQuery({ name: 'format', required: false, enum: ['mjml', 'liquid'] })
  async save(
    @Param('id') id: string,
    @Body() body: unknown,
    @Query('workspace') workspace: string | undefined,
    @Query('format') format: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const input = format !== undefined && isObject(body) && body.format === undefined ? { ...body, format } : body;
    const result = await this.templates.save(workspaceFrom(this.workspaces, workspace), id, input);
    void reply.status(result.created ? 201 : 200);
    return { id: result.id, version: result.version };
  }

  @Delete(':id')
  @HttpCode(200)
  @ApiOperation({ summary: 'Delete a template; messages that use it fail with template_missing until it is back' })
  async remove(@Param('id') id: string, @Query('workspace') workspace?: string) {
    await this.templates.delete(workspaceFrom(this.workspaces, workspace), id);
    return { id, deleted: true };
  }

  @Post(':id/preview')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Render for a user (`userId`: their current traits) and/or given `traits`, and an `event` (its properties are `event` and `trigger`). ' +
      '`channel` and the step `subject` are optional. 422 with the reason when it does not render (e.g. a variable without a default)',
  })
  async preview(@Param('id') id: string, @Body() body: unknown, @Query('workspace') workspace: string | undefined, @Res({ passthrough: true }) reply: FastifyReply) {
    const ws = workspaceFrom(this.workspaces, workspace);
    const template = await this.templates.require(ws, id);
    const input = previewInput(body);
    let traits: Record<string, unknown> = {};
    if (input.userId !== undefined) {
      const person = this.queries.person(ws, `user:${input.userId}`);
      if (!person) throw new NotFoundError(`User ${input.userId} has no profile in workspace ${ws}`);
      traits = person.profile.traits;
    }
    const channel = input.channel ?? template.channel ?? (template.format === 'mjml' ? 'email' : 'sms');
    try {
      const content = await this.renderer.renderTemplate(
        template,
        channel,
        {
          user: { ...traits, ...input.traits },
          event: input.event,
          trigger: input.event,
          message: { id: `preview-${id}`, unsubscribe_url: '#unsubscribe', preferences_url: '#preferences' },
        },
        input.subject,
        ws,
      );
      return { channel, subject: content.subject ?? null, html: content.html ?? null, text: content.text, url: content.url ?? null };
    } catch (error) {
      if (!(error instanceof RenderError)) throw error;
      void reply.status(422);
      return { error: 'render_failed', reason: error.reason, message: error.message };
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function previewInput(body: unknown): PreviewInput {
  const problems: Array<{ path: string; message: string }> = [];
  const input = isObject(body) ? body : {};
  if (body !== undefined && !isObject(body)) problems.push({ path: '', message: 'send a JSON object: { userId?, traits?, event?, channel?, subject? }' });
  for (const key of Object.keys(input)) {
    if (!['userId', 'traits', 'event', 'channel', 'subject'].includes(key)) problems.push({ path: key, message: 'is not a preview field' });
  }
  if (input.userId !== undefined && (typeof input.userId !== 'string' || input.userId === '')) problems.push({ path: 'userId', message: 'must be a non-empty string' });
  for (const key of ['traits', 'event'] as const) if (input[key] !== undefined && !isObject(input[key])) problems.push({ path: key, message: 'must be an object' });
  if (input.channel !== undefined && !(CHANNELS as readonly unknown[]).includes(input.channel)) problems.push({ path: 'channel', message: `must be one of ${CHANNELS.join(', ')}` });
  if (input.subject !== undefined && typeof input.subject !== 'string') problems.push({ path: 'subject', message: 'must be a string (Liquid)' });
  if (problems.length > 0) throw new InvalidDefinitionError('preview request', problems);
  return {
    userId: input.userId as string | undefined,
    traits: (input.traits as Record<string, unknown> | undefined) ?? {},
    event: (input.event as Record<string, unknown> | undefined) ?? {},
    channel: input.channel as Channel | undefined,
    subject: input.subject as string | undefined,
  };
}
