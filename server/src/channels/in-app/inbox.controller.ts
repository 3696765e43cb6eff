/**
 * The end user's side of the in-app channel: their inbox and its live stream, called from a browser
 * or app with a per-user token (see inbox-token.guard.ts). CORS is open (`*`) on these routes only:
 * the token travels in a header or the URL, never in a cookie, so any page may call them with it.
 */
import { Controller, Get, HttpCode, Inject, Options, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError, NotFoundError } from '../../http/http-errors';
import type { InboxPrincipal } from './inbox.service';
import { InboxStreams } from './inbox-streams';
import { Inbox, InboxTokenGuard } from './inbox-token.guard';
import { InAppMessageNotFoundError, type InboxCommand } from './inbox.commands';
import { InboxService } from './inbox.service';

const MAX_MESSAGE_ID_LENGTH = 512;

@ApiTags('inbox')
@ApiBearerAuth()
@Controller('v1/inbox')
export class InboxController {
  constructor(
    @Inject(InboxService) private readonly inbox: InboxService,
    @Inject(InboxStreams) private readonly streams: InboxStreams,
  ) {}

  @Options(['', 'stream', ':messageId/read', ':messageId/archive'])
  @HttpCode(204)
  @ApiOperation({ summary: 'CORS preflight for the inbox routes' })
  preflight(@Res({ passthrough: true }) reply: FastifyReply): void {
    void reply.headers({
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'authorization, content-type, last-event-id',
      'access-control-max-age': '86400',
    });
  }

  @Get()
  @UseGuards(InboxTokenGuard)
  @ApiOperation({ summary: "The token holder's in-app messages, newest first, and the unread count (archived ones with ?archived=true)" })
  @ApiQuery({ name: 'archived', required: false, enum: ['true', 'false'] })
  @ApiQuery({ name: 'limit', required: false, description: '1-1000, default 100' })
  async list(@Inbox() principal: InboxPrincipal, @Query('archived') archived?: string, @Query('limit') limit?: string) {
    if (archived !== undefined && archived !== 'true' && archived !== 'false') throw new BadRequestError('archived must be true or false', 'archived');
    const count = limit === undefined ? 100 : Number(limit);
    if (!Number.isInteger(count) || count < 1 || count > 1000) throw new BadRequestError('limit must be an integer from 1 to 1000', 'limit');
    return this.inbox.list(principal, { archived: archived === 'true', limit: count });
  }

  @Get('stream')
  @UseGuards(InboxTokenGuard)
  @ApiOperation({
    summary:
      'Server-Sent Events: `snapshot` (unread count) on connect, then `message` for each new in-app message; `: ping` every 15 s. Token as ?token= for EventSource',
  })
  @ApiProduces('text/event-stream')
  async stream(@Inbox() principal: InboxPrincipal, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    // From here on the response is ours: Fastify neither sends nor times it out.
    reply.hijack();
    await this.streams.serve(principal, request.raw, reply.raw);
  }

  @Post(':messageId/read')
  @HttpCode(200)
  @UseGuards(InboxTokenGuard)
  @ApiOperation({ summary: 'Mark a message read (records InAppMessageRead and MessageOpened once); 404 for a message not in this inbox' })
  read(@Inbox() principal: InboxPrincipal, @Param('messageId') messageId: string) {
    return this.handle(principal, { type: 'MarkInAppMessageRead', messageId: checked(messageId) }, { read: true });
  }

  @Post(':messageId/archive')
  @HttpCode(200)
  @UseGuards(InboxTokenGuard)
  @ApiOperation({ summary: 'Archive a message (hidden from the list unless ?archived=true); 404 for a message not in this inbox' })
  archive(@Inbox() principal: InboxPrincipal, @Param('messageId') messageId: string) {
    return this.handle(principal, { type: 'ArchiveInAppMessage', messageId: checked(messageId) }, { archived: true });
  }

  private async handle<R extends Record<string, boolean>>(principal: InboxPrincipal, command: InboxCommand, result: R) {
    try {
      const { recorded } = await this.inbox.handle(principal, command);
      return { messageId: command.messageId, ...result, changed: recorded > 0 };
    } catch (error) {
      if (error instanceof InAppMessageNotFoundError) throw new NotFoundError(error.message);
      throw error;
    }
  }
}

function checked(messageId: string): string {
  if (messageId.length === 0 || messageId.length > MAX_MESSAGE_ID_LENGTH) {
    throw new BadRequestError(`messageId must be 1-${MAX_MESSAGE_ID_LENGTH} characters`, 'messageId');
  }
  return messageId;
}
