/**
 * What the analytics API reads. The funnel comes from the pre-aggregated `funnel_daily` states (a
 * few rows per step, variant and day) rather than from a scan of `events`; merging uniqExact states
 * across variants or days is an exact union, so totals are exact too.
 */
import type { AnalyticsStore } from './analytics-store.port';
import { sql, type Sql, trusted } from './sql';

export const FUNNEL_STAGES = ['entered', 'sent', 'delivered', 'opened', 'clicked', 'converted'] as const;
export type FunnelCounts = Record<(typeof FUNNEL_STAGES)[number], number>;

export interface FunnelQuery {
  workspace: string;
  scenarioId: string;
  /** Enrolment days, inclusive, `YYYY-MM-DD` (UTC). */
  from: string;
  to: string;
  by?: 'variant' | 'day';
}

export interface FunnelStep extends FunnelCounts {
  stepId: string;
  variants?: Array<FunnelCounts & { variant: string }>;
  days?: Array<FunnelCounts & { day: string }>;
}

export interface Funnel {
  /** The scenario as a whole: enrolments started and goals reached. */
  scenario: FunnelCounts & { variants?: Array<FunnelCounts & { variant: string }>; days?: Array<FunnelCounts & { day: string }> };
  steps: FunnelStep[];
}

const MERGED_STAGES = trusted(FUNNEL_STAGES.map((stage) => `uniqExactMerge(${stage}_state) AS ${stage}`).join(', '));

function counts(row: Record<string, unknown>): FunnelCounts {
  return Object.fromEntries(FUNNEL_STAGES.map((stage) => [stage, Number(row[stage] ?? 0)])) as FunnelCounts;
}

export class AnalyticsQueries {
  constructor(private readonly store: AnalyticsStore) {}

  /** Steps in `stepOrder` first (the scenario's definition), then any other step seen in the data. */
  async funnel(query: FunnelQuery, stepOrder: readonly string[] = []): Promise<Funnel> {
    const where = sql`workspace = ${query.workspace} AND scenario_id = ${query.scenarioId}
      AND day >= toDate(${query.from}) AND day <= toDate(${query.to})`;
    // With a breakdown, one query: an enrolment has one variant per step and one start day, so the
    // step's totals are the sums of its rows, exactly.
    const rows = await this.store.query<Record<string, unknown>>(
      query.by === 'variant'
        ? sql`SELECT step_id, variant, ${MERGED_STAGES} FROM funnel_daily WHERE ${where} GROUP BY step_id, variant ORDER BY step_id, variant`
        : query.by === 'day'
          ? sql`SELECT step_id, toString(day) AS day_text, ${MERGED_STAGES} FROM funnel_daily WHERE ${where} GROUP BY step_id, day ORDER BY step_id, day`
          : sql`SELECT step_id, ${MERGED_STAGES} FROM funnel_daily WHERE ${where} GROUP BY step_id`,
    );
    const byStep = new Map<string, FunnelStep>();
    for (const row of rows) {
      const stepId = String(row.step_id);
      let step = byStep.get(stepId);
      if (!step) byStep.set(stepId, (step = { stepId, ...counts({}) }));
      const rowCounts = counts(row);
      for (const stage of FUNNEL_STAGES) step[stage] += rowCounts[stage];
      if (query.by === 'variant') (step.variants ??= []).push({ variant: String(row.variant), ...rowCounts });
      if (query.by === 'day') (step.days ??= []).push({ day: String(row.day_text), ...rowCounts });
    }
    const scenario = byStep.get('') ?? { stepId: '', ...counts({}) };
    byStep.delete('');
    const ordered = [...stepOrder.filter((id) => byStep.has(id)), ...[...byStep.keys()].filter((id) => !stepOrder.includes(id)).sort()];
    const { stepId: _scenarioRow, ...scenarioCounts } = scenario;
    return { scenario: scenarioCounts, steps: ordered.map((id) => byStep.get(id)!) };
  }

  async eventsPerMinute(workspace: string, from: Date, to: Date): Promise<Array<{ minute: string; events: number }>> {
    // Aliases differ from column names: 18.16 substitutes an alias wherever its name appears.
    const rows = await this.store.query<{ minute: string; events: string | number }>(
      sql`SELECT toString(toStartOfMinute(occurred_at)) AS minute, uniqExact(event_id) AS events FROM events
        WHERE workspace = ${workspace} AND occurred_at >= ${from} AND occurred_at < ${to}
        GROUP BY minute ORDER BY minute`,
    );
    return rows.map((row) => ({ minute: `${row.minute.replace(' ', 'T')}Z`, events: Number(row.events) }));
  }

  async messagesByChannelAndOutcome(workspace: string): Promise<Array<{ channel: string; outcome: string; messages: number }>> {
    const rows = await this.store.query<{ channel: string; outcome: string; messages: string | number }>(
      sql`SELECT channel, outcome, count() AS messages FROM (${messagesOf(workspace)}) GROUP BY channel, outcome ORDER BY channel, outcome`,
    );
    return rows.map((row) => ({ channel: row.channel, outcome: row.outcome, messages: Number(row.messages) }));
  }

  /** Started minus ended; an enrolment an identity link moved to the user's stream goes on there (its `merged_into_user` exit is not an end). */
  async activeEnrollments(workspace: string): Promise<Array<{ scenarioId: string; started: number; exited: number; active: number }>> {
    const rows = await this.store.query<{ scenario_id: string; started: string | number; exited: string | number }>(
      sql`SELECT scenario_id, uniqExactIf(enrollment_id, type = 'EnrollmentStarted') AS started,
          uniqExactIf(enrollment_id, type = 'EnrollmentExited' AND visitParamExtractString(data, 'reason') != 'merged_into_user') AS exited
        FROM events WHERE workspace = ${workspace} AND type IN ('EnrollmentStarted', 'EnrollmentExited')
        GROUP BY scenario_id ORDER BY scenario_id`,
    );
    return rows.map((row) => {
      const started = Number(row.started);
      const exited = Number(row.exited);
      return { scenarioId: row.scenario_id, started, exited, active: Math.max(0, started - exited) };
    });
  }
}

/**
 * One row per message of a workspace with its channel and outcome, like the `messages` view but
 * filtered before merging (18.16 does not push a WHERE into a view).
 */
export function messagesOf(workspace: string): Sql {
  const time = (name: string) => `nullIf(minMerge(${name}_at_state), toDateTime(0, 'UTC'))`;
  return sql`SELECT message_id, maxMerge(channel_state) AS channel, ${trusted(`multiIf(
      ${time('complained')} IS NOT NULL, 'complained',
      ${time('bounced')} IS NOT NULL, 'bounced',
      ${time('failed')} IS NOT NULL, 'failed',
      ${time('clicked')} IS NOT NULL, 'clicked',
      ${time('opened')} IS NOT NULL, 'opened',
      ${time('delivered')} IS NOT NULL, 'delivered',
      ${time('sent')} IS NOT NULL, 'sent',
      ${time('outcome_unknown')} IS NOT NULL, 'unknown',
      ${time('suppressed')} IS NOT NULL, 'suppressed',
      ${time('queued')} IS NOT NULL, 'queued',
      ${time('deferred')} IS NOT NULL, 'deferred',
      'other')`)} AS outcome
    FROM messages_agg WHERE workspace = ${workspace} GROUP BY message_id`;
}
