/**
 * The analytics schema (docs/analytics.md describes it for analysts). The same statements run on
 * ClickHouse 18.16 (the oldest server Herald supports) and on chDB (ClickHouse 26.7), so they keep
 * to what 18.16 has: DateTime plus a millisecond column (no DateTime64), plain String (no
 * LowCardinality), visitParamExtract* (no JSONExtract*), no TTL, CODEC, Map or
 * SimpleAggregateFunction, and no PARTITION BY (events may carry any occurredAt, and one insert
 * touching more than 100 partitions would be refused).
 *
 * Idempotency: the sink may insert an event again (a retry, a replay from position 0). `events` is a
 * ReplacingMergeTree keyed on the event id, so duplicates vanish at merge time and queries that must
 * be exact use `uniqExact(event_id)` or FINAL. The materialized views see every insert, duplicates
 * included, so their aggregates are all duplicate-proof: uniqExact of ids, min/max of times.
 */
import type { AnalyticsStore } from './analytics-store.port';
import { trusted } from './sql';

/** Event types that settle or describe one message; each carries `messageId`. */
export const MESSAGE_EVENT_TYPES = [
  'MessageQueued',
  'MessageSuppressed',
  'MessageDeferred',
  'MessageDispatching',
  'MessageSent',
  'MessageDelivered',
  'MessageOpened',
  'MessageClicked',
  'MessageBounced',
  'MessageFailed',
  'MessageComplained',
  'MessageOutcomeUnknown',
  'Unsubscribed',
] as const;

const MESSAGE_TYPES_SQL = MESSAGE_EVENT_TYPES.map((type) => `'${type}'`).join(', ');

/** An unset DateTime in the aggregate tables (min over no rows); the views turn it into NULL. */
const NEVER = `toDateTime(0, 'UTC')`;

export const ANALYTICS_TABLES = ['events', 'messages_agg', 'funnel_daily'] as const;
export const ANALYTICS_VIEWS = ['messages_mv', 'funnel_daily_steps_mv', 'funnel_daily_goals_mv', 'messages', 'funnel'] as const;

const messageTime = (column: string) => `${column} AggregateFunction(min, DateTime('UTC'))`;
const messageTimeState = (column: string, type: string) => `minStateIf(occurred_at, type = '${type}') AS ${column}`;
const messageTimeMerge = (column: string, state: string) => `nullIf(minMerge(${state}), ${NEVER}) AS ${column}`;

const MESSAGE_TIMES: Array<[column: string, type: string]> = [
  ['queued_at', 'MessageQueued'],
  ['suppressed_at', 'MessageSuppressed'],
  ['deferred_at', 'MessageDeferred'],
  ['sent_at', 'MessageSent'],
  ['delivered_at', 'MessageDelivered'],
  ['opened_at', 'MessageOpened'],
  ['clicked_at', 'MessageClicked'],
  ['bounced_at', 'MessageBounced'],
  ['failed_at', 'MessageFailed'],
  ['complained_at', 'MessageComplained'],
  ['unsubscribed_at', 'Unsubscribed'],
  ['outcome_unknown_at', 'MessageOutcomeUnknown'],
];

const FUNNEL_STAGES: Array<[column: string, condition: string]> = [
  ['entered', '1'],
  ['sent', `type = 'MessageSent'`],
  ['delivered', `type = 'MessageDelivered'`],
  ['opened', `type = 'MessageOpened'`],
  ['clicked', `type = 'MessageClicked'`],
  ['converted', '0'],
];

export const SCHEMA_STATEMENTS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS events (
    workspace String,
    event_id String,
    type String,
    stream String,
    revision UInt64,
    position UInt64,
    person String,
    user_id String,
    anonymous_id String,
    occurred_at DateTime('UTC'),
    occurred_at_ms UInt64,
    recorded_at DateTime('UTC'),
    causation_id String,
    correlation_id String,
    event_name String,
    enrollment_id String,
    enrolled_at DateTime('UTC'),
    scenario_id String,
    step_id String,
    variant String,
    message_id String,
    channel String,
    goal_steps Array(String),
    goal_variants Array(String),
    properties String,
    data String,
    metadata String
  ) ENGINE = ReplacingMergeTree()
  ORDER BY (workspace, type, occurred_at, event_id)`,

  `CREATE TABLE IF NOT EXISTS messages_agg (
    workspace String,
    message_id String,
    channel_state AggregateFunction(max, String),
    person_state AggregateFunction(max, String),
    enrollment_id_state AggregateFunction(max, String),
    enrolled_at_state AggregateFunction(max, DateTime('UTC')),
    scenario_id_state AggregateFunction(max, String),
    step_id_state AggregateFunction(max, String),
    variant_state AggregateFunction(max, String),
    ${MESSAGE_TIMES.map(([column]) => messageTime(`${column}_state`)).join(',\n    ')},
    suppression_reason_state AggregateFunction(max, String),
    failure_reason_state AggregateFunction(max, String),
    opens_state AggregateFunction(uniqExact, String),
    clicks_state AggregateFunction(uniqExact, String)
  ) ENGINE = AggregatingMergeTree()
  ORDER BY (workspace, message_id)`,

  `CREATE MATERIALIZED VIEW IF NOT EXISTS messages_mv TO messages_agg AS
  SELECT
    workspace,
    message_id,
    maxState(channel) AS channel_state,
    maxState(person) AS person_state,
    maxState(enrollment_id) AS enrollment_id_state,
    maxState(enrolled_at) AS enrolled_at_state,
    maxState(scenario_id) AS scenario_id_state,
    maxState(step_id) AS step_id_state,
    maxState(variant) AS variant_state,
    ${MESSAGE_TIMES.map(([column, type]) => messageTimeState(`${column}_state`, type)).join(',\n    ')},
    maxStateIf(visitParamExtractString(data, 'reason'), type = 'MessageSuppressed') AS suppression_reason_state,
    maxStateIf(visitParamExtractString(data, 'reason'), type IN ('MessageFailed', 'MessageBounced')) AS failure_reason_state,
    uniqExactStateIf(event_id, type = 'MessageOpened') AS opens_state,
    uniqExactStateIf(event_id, type = 'MessageClicked') AS clicks_state
  FROM events
  WHERE message_id != '' AND type IN (${MESSAGE_TYPES_SQL})
  GROUP BY workspace, message_id`,

  `CREATE VIEW IF NOT EXISTS messages AS
  SELECT
    workspace,
    message_id,
    maxMerge(channel_state) AS channel,
    maxMerge(person_state) AS person,
    maxMerge(enrollment_id_state) AS enrollment_id,
    nullIf(maxMerge(enrolled_at_state), ${NEVER}) AS enrolled_at,
    maxMerge(scenario_id_state) AS scenario_id,
    maxMerge(step_id_state) AS step_id,
    maxMerge(variant_state) AS variant,
    ${MESSAGE_TIMES.map(([column]) => messageTimeMerge(column, `${column}_state`)).join(',\n    ')},
    maxMerge(suppression_reason_state) AS suppression_reason,
    maxMerge(failure_reason_state) AS failure_reason,
    uniqExactMerge(opens_state) AS opens,
    uniqExactMerge(clicks_state) AS clicks,
    multiIf(
      complained_at IS NOT NULL, 'complained',
      bounced_at IS NOT NULL, 'bounced',
      failed_at IS NOT NULL, 'failed',
      clicked_at IS NOT NULL, 'clicked',
      opened_at IS NOT NULL, 'opened',
      delivered_at IS NOT NULL, 'delivered',
      sent_at IS NOT NULL, 'sent',
      outcome_unknown_at IS NOT NULL, 'unknown',
      suppressed_at IS NOT NULL, 'suppressed',
      queued_at IS NOT NULL, 'queued',
      deferred_at IS NOT NULL, 'deferred',
      'other') AS outcome
  FROM messages_agg
  GROUP BY workspace, message_id`,

  `CREATE TABLE IF NOT EXISTS funnel_daily (
    workspace String,
    scenario_id String,
    step_id String,
    variant String,
    day Date,
    ${FUNNEL_STAGES.map(([column]) => `${column}_state AggregateFunction(uniqExact, String)`).join(',\n    ')}
  ) ENGINE = AggregatingMergeTree()
  ORDER BY (workspace, scenario_id, step_id, variant, day)`,

  // Every event of an enrolment at a step (step_id '' = the scenario as a whole); `day` is the day
  // the enrolment started, so a step's counts describe one cohort of enrolments.
  `CREATE MATERIALIZED VIEW IF NOT EXISTS funnel_daily_steps_mv TO funnel_daily AS
  SELECT
    workspace, scenario_id, step_id, variant, toDate(enrolled_at) AS day,
    ${FUNNEL_STAGES.map(([column, condition]) => `uniqExactStateIf(enrollment_id, ${condition}) AS ${column}_state`).join(',\n    ')}
  FROM events
  WHERE enrollment_id != '' AND scenario_id != ''
  GROUP BY workspace, scenario_id, step_id, variant, day`,

  // A goal converts the scenario ('' step) and every step the enrolment had reached before it.
  `CREATE MATERIALIZED VIEW IF NOT EXISTS funnel_daily_goals_mv TO funnel_daily AS
  SELECT
    workspace, scenario_id, goal_step AS step_id, goal_variant AS variant, toDate(enrolled_at) AS day,
    ${FUNNEL_STAGES.map(([column]) => `uniqExactStateIf(enrollment_id, ${column === 'converted' ? '1' : '0'}) AS ${column}_state`).join(',\n    ')}
  FROM events
  ARRAY JOIN goal_steps AS goal_step, goal_variants AS goal_variant
  WHERE type = 'GoalReached' AND enrollment_id != ''
  GROUP BY workspace, scenario_id, step_id, variant, day`,

  `CREATE VIEW IF NOT EXISTS funnel AS
  SELECT
    workspace, scenario_id, step_id, variant, day,
    ${FUNNEL_STAGES.map(([column]) => `uniqExactMerge(${column}_state) AS ${column}`).join(',\n    ')}
  FROM funnel_daily
  GROUP BY workspace, scenario_id, step_id, variant, day`,
];

/** Creates whatever is missing; safe to run at every start. */
export async function ensureAnalyticsSchema(store: AnalyticsStore): Promise<void> {
  for (const statement of SCHEMA_STATEMENTS) await store.command(trusted(statement));
}

/** Drops everything (views first), for a rebuild from the log. */
export async function dropAnalyticsSchema(store: AnalyticsStore): Promise<void> {
  for (const name of [...ANALYTICS_VIEWS, ...ANALYTICS_TABLES]) await store.command(trusted(`DROP TABLE IF EXISTS ${name}`));
}
