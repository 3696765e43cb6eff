import { Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ExperimentAlreadyConcludedError, ExperimentNotFoundError, UnknownVariantError } from '@herald/projections';
import { AdminGuard } from '../http/admin.guard';
import { BadRequestError, ConflictError, NotFoundError } from '../http/http-errors';
import { workspaceFrom } from '../http/workspace.param';
import { WorkspacesService } from '../workspaces/workspaces.service';
import { ExperimentsService } from './experiments.service';

@ApiTags('experiments')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('api/experiments')
export class ExperimentsController {
  constructor(
    private readonly experiments: ExperimentsService,
    private readonly workspaces: WorkspacesService,
  ) {}

  @Get(':scenarioId/:stepId')
  @ApiOperation({
    summary:
      "An A/B step's results from the log: per variant (and the holdout) exposures, conversions, rate, lift, interval and p-values against the control; SRM check; holdout against sending; winner",
  })
  @ApiQuery({ name: 'workspace', required: false })
  async results(@Param('scenarioId') scenarioId: string, @Param('stepId') stepId: string, @Query('workspace') workspace?: string) {
    const ws = workspaceFrom(this.workspaces, workspace);
    return edge(() => this.experiments.results(ws, scenarioId, stepId));
  }

  @Post(':scenarioId/:stepId/promote')
  @HttpCode(201)
  @ApiOperation({ summary: 'Conclude the experiment by hand: new enrolments at the step get `variant` (the holdout keeps its share)' })
  @ApiQuery({ name: 'workspace', required: false })
  async promote(
    @Param('scenarioId') scenarioId: string,
    @Param('stepId') stepId: string,
    @Body() body: unknown,
    @Query('workspace') workspace?: string,
  ) {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('The body must be a JSON object { "variant": "<key>" }', '');
    const variant = (body as Record<string, unknown>).variant;
    if (typeof variant !== 'string' || variant.length === 0) throw new BadRequestError('variant (the key of the variant to promote) is required', 'variant');
    const unknown = Object.keys(body).filter((key) => key !== 'variant');
    if (unknown.length > 0) throw new BadRequestError(`unknown field "${unknown[0]}"; the body is { "variant": "<key>" }`, unknown[0]);
    const ws = workspaceFrom(this.workspaces, workspace);
    const result = await edge(() => this.experiments.promote(ws, scenarioId, stepId, variant));
    return { scenarioId, stepId, ...result };
  }
}

/** Maps the experiment domain's errors to the HTTP edge's. */
async function edge<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ExperimentNotFoundError) throw new NotFoundError(error.message);
    if (error instanceof UnknownVariantError) throw new BadRequestError(error.message, 'variant');
    if (error instanceof ExperimentAlreadyConcludedError) throw new ConflictError(error.message);
    throw error;
  }
}
