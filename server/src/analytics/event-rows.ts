/**
 * One `events` row per event of the log: the envelope flattened into columns, the ids the funnel
 * needs (filled from the funnel context where the event itself does not carry them), and the
 * event's data kept whole as JSON text.
 */
import { personKeyOfStream } from '@herald/projections';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { FunnelContext } from './funnel-context';
import { toDateTimeText } from './sql';

export interface EventRow {
  workspace: string;
  event_id: string;
  type: string;
  stream: string;
  revision: number;
  position: number;
  person: string;
  user_id: string;
  anonymous_id: string;
  occurred_at: string;
  occurred_at_ms: number;
  recorded_at: string;
  causation_id: string;
  correlation_id: string;
  event_name: string;
  enrollment_id: string;
  enrolled_at: string;
  scenario_id: string;
  step_id: string;
  variant: string;
  message_id: string;
  channel: string;
  goal_steps: string[];
  goal_variants: string[];
  properties: string;
  data: string;
  metadata: string;
}

/** DateTime holds seconds from 1970 to 2106; anything outside is clamped so the insert never fails. */
const MAX_DATETIME_MS = 4_294_967_295_000;

export function clampedMs(iso: unknown, fallback = 0): number {
  const ms = typeof iso === 'string' ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(ms)) return fallback;
  return Math.min(Math.max(ms, 0), MAX_DATETIME_MS);
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** Maps an event to its row, reading and updating the funnel context (call in log order). */
export function toEventRow(event: RecordedEvent, context: FunnelContext): EventRow {
  const data = (typeof event.data === 'object' && event.data !== null ? event.data : {}) as Record<string, unknown>;
  const recordedMs = clampedMs(event.recordedAt);
  const occurredMs = clampedMs(event.metadata?.occurredAt, recordedMs);
  const person = personKeyOfStream(event.stream) ?? '';

  let enrollmentId = text(data.enrollmentId);
  let scenarioId = text(data.scenarioId);
  let stepId = text(data.stepId);
  let variant = text(data.variant);
  const messageId = text(data.messageId);

  // Provider outcomes name only the message: its enrolment, step and variant come from MessageQueued.
  if (messageId && !enrollmentId) {
    const link = context.message(messageId);
    if (link) ({ enrollmentId, scenarioId, stepId, variant } = link);
  }
  if (event.type === 'EnrollmentStarted' && enrollmentId) context.startEnrollment(enrollmentId, { scenarioId, startedAtMs: occurredMs });
  const enrollment = enrollmentId ? context.enrollment(enrollmentId) : undefined;
  if (!scenarioId && enrollment) scenarioId = enrollment.scenarioId;

  if (enrollmentId && stepId) {
    context.reachStep(enrollmentId, stepId, variant, event.position);
    if (!variant) variant = context.variantAt(enrollmentId, stepId) ?? '';
    if (messageId && event.type.startsWith('Message') && !context.message(messageId)) {
      context.linkMessage(messageId, { enrollmentId, scenarioId, stepId, variant });
    }
  }

  let goalSteps: string[] = [];
  let goalVariants: string[] = [];
  if (event.type === 'GoalReached' && enrollmentId) {
    // '' is the scenario as a whole; then every step reached before the goal.
    const reached = context.steps(enrollmentId, event.position);
    goalSteps = ['', ...reached.keys()];
    goalVariants = ['', ...reached.values()];
  }

  const properties = data.properties ?? data.traits;
  return {
    workspace: text(event.metadata?.workspace),
    event_id: event.id,
    type: event.type,
    stream: event.stream,
    revision: event.revision,
    position: event.position,
    person,
    user_id: person.startsWith('user:') ? person.slice(5) : text(data.userId),
    anonymous_id: person.startsWith('anon:') ? person.slice(5) : text(data.anonymousId),
    occurred_at: toDateTimeText(new Date(occurredMs)),
    occurred_at_ms: occurredMs,
    recorded_at: toDateTimeText(new Date(recordedMs)),
    causation_id: text(event.metadata?.causationId),
    correlation_id: text(event.metadata?.correlationId),
    event_name: text(data.event) || (event.type === 'PageViewed' || event.type === 'ScreenViewed' ? text(data.name) : ''),
    enrollment_id: enrollmentId,
    enrolled_at: toDateTimeText(new Date(enrollment?.startedAtMs ?? 0)),
    scenario_id: scenarioId,
    step_id: stepId,
    variant,
    message_id: messageId,
    channel: text(data.channel),
    goal_steps: goalSteps,
    goal_variants: goalVariants,
    properties: properties === undefined ? '' : JSON.stringify(properties),
    data: JSON.stringify(event.data ?? null),
    metadata: JSON.stringify(event.metadata ?? {}),
  };
}
