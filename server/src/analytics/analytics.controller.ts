import { Controller, Get, Inject, Query, ServiceUnavailableException, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { AdminGuard } from '../http/admin.guard';
import { BadRequestError } from '../http/http-errors';
import { workspaceFrom } from '../http/workspace.param';
import { ScenarioCatalog } from '../scenarios/scenario-catalog';
import { CLOCK, type Clock } from '../shared/clock';
import { WorkspacesService } from '../workspaces/workspaces.service';
import { AnalyticsStoreError } from './analytics-store.port';
import { AnalyticsService, AnalyticsUnavailableError } from './analytics.service';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
/**
 * The enrolment days a funnel can ask about: what every supported ClickHouse reads as a `Date`.
 * `Date` starts at 1970-01-01; chDB (26.x) clamps later days to 2149-06-06, and 18.16 reads any day
 * after 2105-12-31 as 1970-01-01, so a wider range would answer with wrong, empty funnels.
 */
export const FIRST_DAY = '1970-01-01';
export const LAST_DAY = '2105-12-31';
const isoDay = z
  .string()
  .regex(DAY, 'must be a date as YYYY-MM-DD')
  .refine((value) => !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) && new Date(`${value}T00:00:00Z`).toISOString().startsWith(value), 'is not a real date')
  .refine((value) => value >= FIRST_DAY && value <= LAST_DAY, `must be a day from ${FIRST_DAY} to ${LAST_DAY}`);

const funnelQuery = z
  .object({
    scenario: z.string({ error: 'is required' }).min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
    from: isoDay.optional(),
    to: isoDay.optional(),
    by: z.enum(['variant', 'day'], { error: 'must be variant or day' }).optional(),
    workspace: z.string().optional(),
  })
  .strict();

const overviewQuery = z
  .object({
    minutes: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(1440, 'must be at most 1440').optional(),
    workspace: z.string().optional(),
  })
  .strict();

/** Zod's first problem as a 400 naming the field (`scenario: is required`). */
function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    throw new BadRequestError(`Unknown query parameter${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}`, issue.keys[0]);
  }
  const path = issue.path.join('.');
  throw new BadRequestError(`${path}: ${issue.message}`, path);
}

const DAY_MS = 86_400_000;
/** The later of two YYYY-MM-DD days (both in FIRST_DAY..LAST_DAY, so they compare as text). */
const maxDay = (a: string, b: string) => (a > b ? a : b);

@ApiTags('analytics')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('api/analytics')
export class AnalyticsController {
  constructor(
    private readonly analytics: AnalyticsService,
    private readonly workspaces: WorkspacesService,
    private readonly scenarios: ScenarioCatalog,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Get('funnel')
  @ApiOperation({
    summary:
      'Per step of a scenario, enrolments that entered, were sent, delivered, opened, clicked and converted (reached the goal within its window), by enrolment day (from/to inclusive, UTC; the last 30 days by default), optionally split by variant or day',
  })
  @ApiQuery({ name: 'scenario', required: true })
  @ApiQuery({ name: 'from', required: false, description: `YYYY-MM-DD, from ${FIRST_DAY} to ${LAST_DAY}; 29 days before to by default (not before ${FIRST_DAY})` })
  @ApiQuery({ name: 'to', required: false, description: `YYYY-MM-DD, from ${FIRST_DAY} to ${LAST_DAY}; today (UTC) by default` })
  @ApiQuery({ name: 'by', required: false, enum: ['variant', 'day'] })
  @ApiQuery({ name: 'workspace', required: false })
  async funnel(@Query() raw: Record<string, unknown>) {
    const query = parse(funnelQuery, raw);
    const workspace = workspaceFrom(this.workspaces, query.workspace);
    const to = query.to ?? this.clock.now().toISOString().slice(0, 10);
    // The default window is the 30 days up to `to`, cut at the first day there can be data for.
    const from = query.from ?? maxDay(FIRST_DAY, new Date(Date.parse(`${to}T00:00:00Z`) - 29 * DAY_MS).toISOString().slice(0, 10));
    if (from > to) throw new BadRequestError(`from (${from}) is after to (${to})`, 'from');
    const entry = await this.scenarios.get(workspace, query.scenario);
    const stepOrder = entry.versions.at(-1)?.definition.steps.map((step) => step.id) ?? [];
    const funnel = await this.read(() => this.analytics.queries().funnel({ workspace, scenarioId: query.scenario, from, to, by: query.by }, stepOrder));
    return { workspace, scenarioId: query.scenario, from, to, ...(query.by ? { by: query.by } : {}), ...funnel };
  }

  @Get('overview')
  @ApiOperation({ summary: 'Events per minute over the last `minutes` (60 by default), messages by channel and outcome, active enrolments by scenario' })
  @ApiQuery({ name: 'minutes', required: false })
  @ApiQuery({ name: 'workspace', required: false })
  async overview(@Query() raw: Record<string, unknown>) {
    const query = parse(overviewQuery, raw);
    const workspace = workspaceFrom(this.workspaces, query.workspace);
    const now = this.clock.now();
    const minutes = query.minutes ?? 60;
    const since = new Date(Math.floor(now.getTime() / 60_000) * 60_000 - (minutes - 1) * 60_000);
    return this.read(async () => {
      const queries = this.analytics.queries();
      // One after the other: embedded chDB runs one statement at a time anyway.
      const eventsPerMinute = await queries.eventsPerMinute(workspace, since, new Date(now.getTime() + 1000));
      const messages = await queries.messagesByChannelAndOutcome(workspace);
      const enrollments = await queries.activeEnrollments(workspace);
      return {
        workspace,
        from: since.toISOString(),
        to: now.toISOString(),
        eventsPerMinute,
        messages,
        activeEnrollments: { total: enrollments.reduce((sum, row) => sum + row.active, 0), byScenario: enrollments },
        lag: await this.analytics.lag(),
      };
    });
  }

  /** ClickHouse being off, not ready or down is a 503 with its reason, not an internal error. */
  private async read<T>(query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (error) {
      if (error instanceof AnalyticsUnavailableError || error instanceof AnalyticsStoreError) throw new ServiceUnavailableException(error.message);
      throw error;
    }
  }
}
