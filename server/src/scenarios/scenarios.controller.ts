import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { nestingProblem, parseScenarioDefinition, tooDeeplyNested } from '@herald/projections';
import { ApiBearerAuth, ApiConsumes, ApiHeader, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AdminGuard } from '../http/admin.guard';
import { BadRequestError, InvalidDefinitionError } from '../http/http-errors';
import { instantParam } from '../http/instant.param';
import { workspaceFrom } from '../http/workspace.param';
import { WorkspacesService } from '../workspaces/workspaces.service';
import { ScenarioCatalog } from './scenario-catalog';
import { ScenarioTriggers } from './scenario-triggers';
import { ScenarioSimulations } from './simulation/scenario-simulations';
import { unsimulatedTrigger, windowBound } from './simulation/simulate-scenario';

@ApiTags('scenarios')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('api/scenarios')
export class ScenariosController {
  constructor(
    private readonly catalog: ScenarioCatalog,
    private readonly triggers: ScenarioTriggers,
    private readonly workspaces: WorkspacesService,
    private readonly simulations: ScenarioSimulations,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Publish a scenario (JSON, or YAML with Content-Type: application/yaml); each publish is a new version' })
  @ApiConsumes('application/json', 'application/yaml')
  @ApiQuery({ name: 'workspace', required: false })
  async publish(@Body() body: unknown, @Query('workspace') workspace: string | undefined, @Res({ passthrough: true }) reply: FastifyReply) {
    const result = await this.catalog.publish(workspaceFrom(this.workspaces, workspace), body);
    void reply.status(result.created ? 201 : 200);
    return { id: result.id, version: result.version };
  }

  @Post('simulate')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Run a draft scenario (the body, as for publish) over the recorded history in a sandbox: nothing is sent, nothing is appended; reports entries, messages per step and variant, suppressions and goals',
  })
  @ApiConsumes('application/json', 'application/yaml')
  @ApiQuery({ name: 'from', required: true, description: 'ISO 8601 date or date-time (UTC without an offset): triggers received from here on enrol' })
  @ApiQuery({ name: 'to', required: false, description: 'ISO 8601; history is read and the clock runs up to here (a bare date: its end). Default: now' })
  @ApiQuery({ name: 'workspace', required: false })
  async simulate(@Body() body: unknown, @Query('from') from: unknown, @Query('to') to: unknown, @Query('workspace') workspace: string | undefined) {
    const space = workspaceFrom(this.workspaces, workspace);
    const parsed = parseScenarioDefinition(body);
    if (!parsed.ok) throw new InvalidDefinitionError('scenario definition', parsed.problems);
    const unsimulated = unsimulatedTrigger(parsed.definition);
    if (unsimulated) throw new BadRequestError(unsimulated.message, unsimulated.path);
    return this.simulations.run(parsed.definition, { workspace: space, from: bound('from', from), to: to === undefined ? undefined : bound('to', to) });
  }

  @Get()
  @ApiOperation({ summary: 'Every scenario with its status and latest version' })
  async list(@Query('workspace') workspace?: string) {
    const catalog = await this.catalog.read(workspaceFrom(this.workspaces, workspace));
    return {
      scenarios: [...catalog.entries.values()].map((entry) => {
        const latest = entry.versions.at(-1)!;
        return { id: entry.id, name: latest.definition.name, status: entry.status, version: latest.version, publishedAt: latest.publishedAt };
      }),
    };
  }

  @Get(':id')
  @ApiOperation({ summary: 'A scenario: status, latest definition and the list of versions' })
  async get(@Param('id') id: string, @Query('workspace') workspace?: string) {
    const entry = await this.catalog.get(workspaceFrom(this.workspaces, workspace), id);
    const latest = entry.versions.at(-1)!;
    return {
      id,
      status: entry.status,
      version: latest.version,
      definition: latest.definition,
      versions: entry.versions.map((v) => ({ version: v.version, publishedAt: v.publishedAt })),
    };
  }

  @Post(':id/pause')
  @HttpCode(200)
  @ApiOperation({ summary: 'No new enrolments; running ones hold at their step until resumed' })
  pause(@Param('id') id: string, @Query('workspace') workspace?: string) {
    return this.status(id, workspace, 'paused');
  }

  @Post(':id/resume')
  @HttpCode(200)
  resume(@Param('id') id: string, @Query('workspace') workspace?: string) {
    return this.status(id, workspace, 'active');
  }

  @Post(':id/archive')
  @HttpCode(200)
  @ApiOperation({ summary: 'Stop the scenario: no new enrolments; running ones exit at their next step' })
  archive(@Param('id') id: string, @Query('workspace') workspace?: string) {
    return this.status(id, workspace, 'archived');
  }

  @Post(':id/trigger')
  @ApiOperation({ summary: 'Enrol one user in an API-triggered scenario (transactional messages); replays with the same Idempotency-Key return the first answer' })
  @ApiHeader({ name: 'Idempotency-Key', required: true })
  async trigger(
    @Param('id') id: string,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Query('workspace') workspace: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    if (!idempotencyKey || idempotencyKey.length > 255) {
      throw new BadRequestError('An Idempotency-Key header (1-255 characters) is required', 'Idempotency-Key');
    }
    const request = parseTriggerBody(body);
    const result = await this.triggers.trigger(workspaceFrom(this.workspaces, workspace), id, idempotencyKey, request);
    void reply.status(result.enrollmentId ? 202 : 200);
    return result;
  }

  private async status(id: string, workspace: string | undefined, status: 'active' | 'paused' | 'archived') {
    const entry = await this.catalog.setStatus(workspaceFrom(this.workspaces, workspace), id, status);
    return { id, status: entry.status };
  }
}

/** `?from=` / `?to=` of a simulation: a bare date is its whole day (`windowBound`). */
const bound = (which: 'from' | 'to', value: unknown) => instantParam(which, value, (text) => windowBound(which, text));

export interface TriggerRequest {
  userId?: string;
  anonymousId?: string;
  properties: Record<string, unknown>;
}

function parseTriggerBody(body: unknown): TriggerRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('The body must be a JSON object', '');
  const { userId, anonymousId, properties } = body as Record<string, unknown>;
  for (const [name, value] of Object.entries({ userId, anonymousId })) {
    if (value !== undefined && (typeof value !== 'string' || value.length === 0 || value.length > 1000)) {
      const tooLong = typeof value === 'string' && value.length > 1000 ? `, got ${value.length} characters` : '';
      throw new BadRequestError(`${name} must be a non-empty string of at most 1000 characters${tooLong}`, name);
    }
  }
  if (userId === undefined && anonymousId === undefined) throw new BadRequestError('userId or anonymousId is required', 'userId');
  if (properties !== undefined && (typeof properties !== 'object' || properties === null || Array.isArray(properties))) {
    throw new BadRequestError('properties must be an object', 'properties');
  }
  const deep = tooDeeplyNested(properties);
  if (deep !== undefined) {
    const problem = nestingProblem(`properties.${deep}`);
    throw new BadRequestError(`${problem.path} ${problem.message}`, problem.path);
  }
  return { userId: userId as string | undefined, anonymousId: anonymousId as string | undefined, properties: (properties ?? {}) as Record<string, unknown> };
}
