import { Controller, Delete, Get, Inject, Param, Query, UseGuards } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { UserHistory } from '../audit/queries/get-user-history.handler';
import { GetUserHistoryQuery } from '../audit/queries/get-user-history.query';
import { AdminGuard } from '../http/admin.guard';
import { BadRequestError, NotFoundError } from '../http/http-errors';
import { instantParam } from '../http/instant.param';
import { workspaceFrom } from '../http/workspace.param';
import { IdentityService } from '../identity/identity.service';
import { SEGMENT_ENTERED, SEGMENT_EXITED, type SegmentMembershipData } from '../segments/segment.events';
import { SegmentQueries } from '../segments/segment-queries';
import { WorkspacesService } from '../workspaces/workspaces.service';
import { explainMessage, MessageNotInHistoryError } from '../scenarios/explain-message';
import { ScenarioCatalog } from '../scenarios/scenario-catalog';
import { type SendCheckQuery, sendCheck, UserCaps } from './user-caps';
import { NotSuppressedError, UnknownChannelError } from '../channels/suppressions/suppressions';
import { SuppressionsService } from '../channels/suppressions/suppressions.service';

@ApiTags('users')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('api/users')
export class UsersController {
  constructor(
    private readonly queries: QueryBus,
    @Inject(SegmentQueries) private readonly segments: SegmentQueries,
    private readonly identity: IdentityService,
    private readonly workspaces: WorkspacesService,
    private readonly caps: UserCaps,
    private readonly scenarios: ScenarioCatalog,
    private readonly suppressions: SuppressionsService,
  ) {}

  @Get(':userId')
  @ApiOperation({ summary: 'A user: traits, groups, first/last seen, current segments, subscriptions, suppressed addresses and frequency-cap usage' })
  @ApiQuery({ name: 'workspace', required: false })
  async profile(@Param('userId') id: string, @Query('workspace') workspace?: string) {
    const ws = workspaceFrom(this.workspaces, workspace);
    const { userId, person, record } = this.find(ws, id);
    const { profile } = record;
    return {
      workspace: ws,
      userId: person.startsWith('user:') ? userId : undefined,
      anonymousId: person.startsWith('anon:') ? id : undefined,
      traits: profile.traits,
      groups: profile.groups,
      firstSeen: new Date(profile.firstSeen).toISOString(),
      lastSeen: new Date(profile.lastSeen).toISOString(),
      segments: record.members,
      subscriptions: profile.subscriptions,
      suppressions: (await this.suppressions.list(ws, person)).map((s) => ({
        channel: s.channel,
        address: s.address,
        since: s.since,
        suppressedBy: s.eventId,
        cause: { type: s.eventType, messageId: s.messageId, ...(s.code ? { code: s.code } : {}) },
      })),
      frequencyCaps: await this.caps.usage(ws, record),
    };
  }

  @Delete(':userId/suppressions/:channel')
  @ApiOperation({ summary: "Lifts the suppression of the user's bounced addresses on a channel (records AddressUnsuppressed); the next message to them is sent" })
  @ApiQuery({ name: 'workspace', required: false })
  async liftSuppression(@Param('userId') id: string, @Param('channel') channel: string, @Query('workspace') workspace?: string) {
    const ws = workspaceFrom(this.workspaces, workspace);
    const { person } = this.find(ws, id);
    try {
      const lifted = await this.suppressions.lift(ws, person, channel, `user ${id}`);
      return { workspace: ws, userId: id, channel, lifted: lifted.map(({ address, suppressedBy }) => ({ address, suppressedBy })) };
    } catch (error) {
      if (error instanceof UnknownChannelError) throw new BadRequestError(error.message, 'channel');
      if (error instanceof NotSuppressedError) throw new NotFoundError(error.message);
      throw error;
    }
  }

  @Get(':userId/send-check')
  @ApiOperation({ summary: 'Whether a message on `channel` may be queued now (or `at`): if not, the reason (frequency_cap, quiet_hours) and when it next may' })
  @ApiQuery({ name: 'channel', required: true })
  @ApiQuery({ name: 'at', required: false })
  @ApiQuery({ name: 'transactional', required: false, description: 'true for service messages (exempt from caps)' })
  async sendCheck(@Param('userId') id: string, @Query() query: SendCheckQuery & { workspace?: string }) {
    const ws = workspaceFrom(this.workspaces, query.workspace);
    return sendCheck(this.caps, ws, this.find(ws, id).record, query);
  }

  private find(workspace: string, id: string) {
    const { userId } = this.identity.streamsOf(workspace, id);
    for (const person of [`user:${userId}`, `anon:${id}`]) {
      const record = this.segments.person(workspace, person);
      if (record) return { userId, person, record };
    }
    throw new NotFoundError(`No user ${id} in workspace ${workspace}`);
  }

  @Get(':userId/explain')
  @ApiOperation({ summary: 'Why a message went out, or did not: trigger, enrolment, steps, variant, cap and quiet-hours verdicts, outcome' })
  @ApiQuery({ name: 'message', required: true, description: 'The messageId of a MessageQueued, MessageSuppressed or MessageDeferred event' })
  async explain(@Param('userId') id: string, @Query('message') message?: string, @Query('workspace') workspace?: string) {
    if (!message) throw new BadRequestError('message (a messageId) is required', 'message');
    const ws = workspaceFrom(this.workspaces, workspace);
    const history: UserHistory = await this.queries.execute(new GetUserHistoryQuery(ws, id));
    const explanation = explainOrNotFound(history.events, message);
    const concludedBy = explanation.variant?.concludedBy;
    if (concludedBy) {
      // The variant followed a concluded experiment: say which conclusion, and why it was made.
      const stepId = (explanation.decision.data as { stepId: string }).stepId;
      const conclusion = (await this.scenarios.read(ws)).conclusion(explanation.scenario.id, stepId);
      if (conclusion?.eventId === concludedBy) {
        const { winner, cause, concludedAt, version } = conclusion.data;
        explanation.variant!.conclusion = { eventId: conclusion.eventId, winner, cause, concludedAt, version, position: conclusion.position };
      }
    }
    return explanation;
  }

  @Get(':userId/segments')
  @ApiOperation({ summary: 'Segments the user was in at a moment (`at`, ISO 8601; default now), answered from the log' })
  @ApiQuery({ name: 'at', required: false, description: 'ISO 8601 time' })
  async segmentsAt(@Param('userId') id: string, @Query('at') at?: unknown, @Query('workspace') workspace?: string) {
    const ws = workspaceFrom(this.workspaces, workspace);
    const moment = at === undefined ? Date.now() : instantParam('at', at);
    const history: UserHistory = await this.queries.execute(new GetUserHistoryQuery(ws, id));
    // Membership per (person, segment): an anonymous identity's memberships end when it merges.
    const active = new Map<string, { segmentId: string; since: string; version: number }>();
    for (const event of history.events) {
      if (event.type !== SEGMENT_ENTERED && event.type !== SEGMENT_EXITED) continue;
      if (Date.parse(event.metadata.occurredAt) > moment) continue;
      const data = event.data as SegmentMembershipData;
      const key = `${data.person}|${data.segmentId}`;
      if (event.type === SEGMENT_ENTERED) active.set(key, { segmentId: data.segmentId, since: event.metadata.occurredAt, version: data.version });
      else active.delete(key);
    }
    const bySegment = new Map<string, { segmentId: string; since: string; version: number }>();
    for (const entry of active.values()) {
      const known = bySegment.get(entry.segmentId);
      if (!known || entry.since < known.since) bySegment.set(entry.segmentId, entry);
    }
    return { userId: history.userId, at: new Date(moment).toISOString(), segments: [...bySegment.values()].sort((a, b) => a.segmentId.localeCompare(b.segmentId)) };
  }
}

/** The domain says the message is not in the history; over HTTP that is a 404. */
function explainOrNotFound(history: UserHistory['events'], message: string) {
  try {
    return explainMessage(history, message);
  } catch (error) {
    if (error instanceof MessageNotInHistoryError) throw new NotFoundError(error.message);
    throw error;
  }
}
