/**
 * Why did this message go out (or not)? Reconstructed from the person's history alone: the trigger
 * event, the enrolment, each step taken, the variant and how it was hashed, the frequency-cap and
 * quiet-hours verdicts recorded when the message was queued, deferred or suppressed, the bounce that
 * suppressed its address, and every outcome reported for it since.
 */
import type { RecordedEvent } from '../event-store/event-store.port';

const MESSAGE_DECISIONS = ['MessageQueued', 'MessageSuppressed', 'MessageDeferred'];

/**
 * Where the message got to, as a delivery dashboard says it: `pending` (queued or deferred, nothing
 * back yet), `dispatching`, `retrying`, `outcome_unknown`, `sent`, `delivered`, `opened`, `clicked`,
 * `failed`, `bounced`, `complained`, or `not_sent` for a suppressed message.
 */
export type DeliveryState =
  | 'pending'
  | 'dispatching'
  | 'retrying'
  | 'outcome_unknown'
  | 'sent'
  | 'delivered'
  | 'opened'
  | 'clicked'
  | 'failed'
  | 'bounced'
  | 'complained'
  | 'not_sent';

/**
 * Each outcome's state, weakest first: the strongest one reported wins, whatever order the reports
 * came in (a provider's delivery callback may arrive after the open pixel). A failure, a bounce or a
 * complaint outranks engagement: it is what an auditor asking about the message needs to see.
 */
const OUTCOME_STATES: Array<[string, DeliveryState]> = [
  ['MessageDispatching', 'dispatching'],
  ['MessageRetryScheduled', 'retrying'],
  ['MessageOutcomeUnknown', 'outcome_unknown'],
  ['MessageSent', 'sent'],
  ['InAppMessageDelivered', 'delivered'],
  ['MessageDelivered', 'delivered'],
  ['MessageOpened', 'opened'],
  ['MessageClicked', 'clicked'],
  ['MessageFailed', 'failed'],
  ['MessageBounced', 'bounced'],
  ['MessageComplained', 'complained'],
];
const OUTCOME_RANK = new Map(OUTCOME_STATES.map(([type], rank) => [type, rank]));

export interface Explanation {
  messageId: string;
  /** The latest decision about the message; where it got to after that is `delivery`. */
  status: 'queued' | 'suppressed' | 'deferred';
  reason?: string;
  /** Where the message got to, from its outcomes: `at` is when the outcome that says so occurred. */
  delivery: { state: DeliveryState; at?: string };
  scenario: { id: string; version: number };
  trigger?: RecordedEvent;
  enrollment: RecordedEvent;
  steps: Array<{ stepId: string; outcome?: string; at: string }>;
  variant?: {
    key: string;
    bucket: number;
    seed: string;
    hashVersion: number;
    /**
     * `hash`: the weighted split of a running experiment; `concluded-experiment`: the experiment was
     * concluded, and `concludedBy` is the ExperimentConcluded event the assignment followed (the
     * winner, or the holdout keeping its share).
     */
    source: 'hash' | 'concluded-experiment';
    concludedBy?: string;
    /** The conclusion itself (winner, cause, time), when the caller looked it up. */
    conclusion?: unknown;
  };
  decision: RecordedEvent;
  /** For a message suppressed because its address bounced for good: that bounce (or Twilio failure). */
  suppressedBy?: RecordedEvent;
  outcomes: RecordedEvent[];
  /** Every event of the chain in log order. */
  chain: RecordedEvent[];
}

/** The message (or its enrolment) is not in the person's history: nothing to explain. */
export class MessageNotInHistoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MessageNotInHistoryError';
  }
}

export function explainMessage(history: RecordedEvent[], messageId: string): Explanation {
  const about = history.filter((event) => (event.data as { messageId?: string })?.messageId === messageId);
  const decisions = about.filter((event) => MESSAGE_DECISIONS.includes(event.type));
  const decision = decisions.at(-1);
  if (!decision) throw new MessageNotInHistoryError(`No message ${messageId} in this user's history`);
  const data = decision.data as { enrollmentId: string; stepId: string; reason?: string };
  const enrollment = history.find((event) => event.type === 'EnrollmentStarted' && (event.data as { enrollmentId: string }).enrollmentId === data.enrollmentId);
  if (!enrollment) throw new MessageNotInHistoryError(`The enrolment of message ${messageId} is not in this user's history`);
  const started = enrollment.data as { scenarioId: string; version: number; trigger: { eventId: string } };
  const trigger = history.find((event) => event.id === started.trigger.eventId);
  const ofEnrollment = history.filter(
    (event) => (event.data as { enrollmentId?: string })?.enrollmentId === data.enrollmentId && event.position <= decision.position,
  );
  const variantEvent = ofEnrollment.find((event) => event.type === 'VariantAssigned' && (event.data as { stepId: string }).stepId === data.stepId);
  const variant = variantEvent?.data as { variant: string; bucket: number; seed: string; hashVersion: number; concludedBy?: string } | undefined;
  const outcomes = about.filter((event) => !MESSAGE_DECISIONS.includes(event.type));
  const suppressedById = decision.type === 'MessageSuppressed' ? (decision.data as { suppressedBy?: string }).suppressedBy : undefined;
  const suppressedBy = suppressedById ? history.find((event) => event.id === suppressedById) : undefined;
  const chainIds = new Set([trigger?.id, ...ofEnrollment.map((e) => e.id), ...about.map((e) => e.id), suppressedBy?.id]);
  const status = decision.type === 'MessageQueued' ? 'queued' : decision.type === 'MessageSuppressed' ? 'suppressed' : 'deferred';
  return {
    messageId,
    status,
    reason: data.reason,
    delivery: deliveryOf(status, outcomes),
    scenario: { id: started.scenarioId, version: started.version },
    trigger,
    enrollment,
    steps: ofEnrollment
      .filter((event) => event.type === 'StepCompleted')
      .map((event) => ({ ...(event.data as { stepId: string; outcome?: string }), at: event.metadata.occurredAt })),
    variant: variant && {
      key: variant.variant,
      bucket: variant.bucket,
      seed: variant.seed,
      hashVersion: variant.hashVersion,
      source: variant.concludedBy ? 'concluded-experiment' : 'hash',
      ...(variant.concludedBy ? { concludedBy: variant.concludedBy } : {}),
    },
    decision,
    ...(suppressedBy ? { suppressedBy } : {}),
    outcomes,
    chain: history.filter((event) => chainIds.has(event.id)),
  };
}

/** The strongest outcome reported for a queued message (the latest of equals); see `OUTCOME_STATES`. */
export function deliveryOf(status: Explanation['status'], outcomes: RecordedEvent[]): Explanation['delivery'] {
  if (status === 'suppressed') return { state: 'not_sent' };
  let strongest: RecordedEvent | undefined;
  for (const event of outcomes) {
    const rank = OUTCOME_RANK.get(event.type);
    if (rank !== undefined && (strongest === undefined || rank >= OUTCOME_RANK.get(strongest.type)!)) strongest = event;
  }
  if (!strongest) return { state: 'pending' };
  return { state: OUTCOME_STATES[OUTCOME_RANK.get(strongest.type)!][1], at: strongest.metadata.occurredAt };
}
