/** Segment's HTTP Tracking API: existing Segment and RudderStack SDKs send here with only `host` changed. */
import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBasicAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { UnauthorizedError } from '../http/http-errors';
import { WorkspacesService } from '../workspaces/workspaces.service';
import { IngestTrackingCallCommand, type IngestTrackingCallResult } from './commands/ingest-tracking-call.command';
import type { SegmentCallType } from './segment/segment-message';

@ApiTags('tracking')
@ApiBasicAuth()
@Controller('v1')
export class IngestionController {
  constructor(
    private readonly commands: CommandBus,
    private readonly workspaces: WorkspacesService,
  ) {}

  @Post('track')
  @HttpCode(200)
  @ApiOperation({ summary: 'Record an action a user performed (Segment track)' })
  track(@Req() request: FastifyRequest, @Body() body: unknown) {
    return this.ingest('track', request, body);
  }

  @Post('identify')
  @HttpCode(200)
  @ApiOperation({ summary: 'Tie a user to their traits; links an anonymousId to the userId (Segment identify)' })
  identify(@Req() request: FastifyRequest, @Body() body: unknown) {
    return this.ingest('identify', request, body);
  }

  @Post('page')
  @HttpCode(200)
  @ApiOperation({ summary: 'Record a page view (Segment page)' })
  page(@Req() request: FastifyRequest, @Body() body: unknown) {
    return this.ingest('page', request, body);
  }

  @Post('screen')
  @HttpCode(200)
  @ApiOperation({ summary: 'Record a mobile screen view (Segment screen)' })
  screen(@Req() request: FastifyRequest, @Body() body: unknown) {
    return this.ingest('screen', request, body);
  }

  @Post('group')
  @HttpCode(200)
  @ApiOperation({ summary: 'Associate a user with a group or account (Segment group)' })
  group(@Req() request: FastifyRequest, @Body() body: unknown) {
    return this.ingest('group', request, body);
  }

  @Post('alias')
  @HttpCode(200)
  @ApiOperation({ summary: 'Merge a previous id into a user id (Segment alias)' })
  alias(@Req() request: FastifyRequest, @Body() body: unknown) {
    return this.ingest('alias', request, body);
  }

  @Post('batch')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send up to 500 KB of calls at once; one bad call rejects the whole batch (Segment batch)' })
  batch(@Req() request: FastifyRequest, @Body() body: unknown) {
    return this.ingest('batch', request, body);
  }

  private async ingest(kind: SegmentCallType | 'batch', request: FastifyRequest, body: unknown) {
    const workspace = await this.authenticate(request, body);
    const result: IngestTrackingCallResult = await this.commands.execute(new IngestTrackingCallCommand(workspace, kind, body));
    return { success: true, accepted: result.accepted };
  }

  /** Segment sends the write key as the Basic-auth user name; some clients put `writeKey` in the body. */
  private async authenticate(request: FastifyRequest, body: unknown): Promise<string> {
    const writeKey = writeKeyFromHeader(request.headers.authorization) ?? writeKeyFromBody(body);
    if (!writeKey) throw new UnauthorizedError('A write key is required: Basic auth with the write key as user name, or `writeKey` in the body');
    const workspace = this.workspaces.workspaceForWriteKey(writeKey) ?? (await this.workspaces.workspaceForUnknownWriteKey(writeKey));
    if (!workspace) throw new UnauthorizedError('The write key is not known');
    return workspace;
  }
}

export function writeKeyFromHeader(header: string | undefined): string | undefined {
  const match = /^Basic\s+(.+)$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1].trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon === -1 ? decoded : decoded.slice(0, colon);
  return user || undefined;
}

function writeKeyFromBody(body: unknown): string | undefined {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const key = (body as { writeKey?: unknown }).writeKey;
    if (typeof key === 'string' && key.length > 0) return key;
  }
  return undefined;
}
