import { Body, Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminGuard } from '../http/admin.guard';
import { BadRequestError, NotFoundError } from '../http/http-errors';
import { parkedEventView, type ProjectionEventReplayed } from '../projection-runner/parked-events';
import { ProjectionRunner, UnknownProjectionError } from '../projection-runner/projection-runner';

/** The events projections set aside (docs/deployment.md, "When a projection fails on an event"), and their replay after a fix. */
@ApiTags('operations')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('api/operations/parked')
export class ParkedEventsController {
  constructor(private readonly runner: ProjectionRunner) {}

  @Get()
  @ApiOperation({ summary: 'Every event a projection parked, oldest first' })
  list() {
    return { parked: this.runner.listParked().map(parkedEventView) };
  }

  @Post(':projection/replay')
  @HttpCode(200)
  @ApiOperation({ summary: 'Hands the projection its parked events again (all, or `{ "positions": [...] }`), after a fix; each is handled or stays parked' })
  async replay(@Param('projection') projection: string, @Body() body: unknown): Promise<{ replayed: ProjectionEventReplayed[] }> {
    const positions = positionsOf(body);
    try {
      return { replayed: await this.runner.replayParked(projection, positions) };
    } catch (error) {
      if (error instanceof UnknownProjectionError) throw new NotFoundError(error.message);
      throw error;
    }
  }
}

/** The optional `positions` of a replay request: log positions, as listed. */
function positionsOf(body: unknown): number[] | undefined {
  if (body === undefined || body === null || body === '') return undefined;
  if (typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('The body must be a JSON object: { "positions": [ ... ] } or {}');
  const { positions, ...rest } = body as { positions?: unknown };
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new BadRequestError(`Unknown field ${unknown[0]}: only positions is accepted`, unknown[0]);
  if (positions === undefined) return undefined;
  if (!Array.isArray(positions) || positions.length === 0 || !positions.every((p) => Number.isSafeInteger(p) && p > 0)) {
    throw new BadRequestError('positions must be a non-empty array of log positions (positive integers)', 'positions');
  }
  return positions as number[];
}
