/**
 * Events the scenario engine appends to a person's stream. Their ids are derived by the server from
 * the cause (`causationId`) and the decision's `key`, so a re-run of the same decision appends
 * nothing new.
 */
import type { Channel } from '../segments';
import type { CapRule, QueuedMessage } from '../messaging';
import type { Profile } from '../profiles';

export interface TriggerInfo {
  /** The id of the event (or API call) that started the enrolment. */
  eventId: string;
  type: string;
  event?: string;
  properties: Record<string, unknown>;
}

export interface EnrollmentStarted {
  enrollmentId: string;
  scenarioId: string;
  version: number;
  person: string;
  trigger: TriggerInfo;
}

export interface StepCompleted {
  enrollmentId: string;
  scenarioId: string;
  stepId: string;
  /** waitFor: `event` or `timeout`; branch: the target step id. */
  outcome?: string;
}

export type TimerPurpose = 'wait' | 'waitUntil' | 'waitFor-timeout' | 'deferred' | 'paused';

export interface TimerScheduled {
  timerId: string;
  enrollmentId: string;
  scenarioId: string;
  stepId: string;
  purpose: TimerPurpose;
  dueAt: string;
}

export interface ScenarioTimerFired {
  purpose: 'scenario';
  timerId: string;
  enrollmentId: string;
  dueAt: string;
}

export interface VariantAssigned {
  enrollmentId: string;
  scenarioId: string;
  stepId: string;
  /** A variant key, or `holdout`. */
  variant: string;
  /** GrowthBook's hash (FNV-1a 32, v2) of the user id with seed `<scenario>:<step>`, in [0, 1). */
  bucket: number;
  hashVersion: 2;
  seed: string;
  /**
   * Set when the step's experiment was already concluded: the id of the `ExperimentConcluded`
   * event the assignment followed (the winner, or the holdout keeping its share).
   */
  concludedBy?: string;
}

export interface MessageQueued {
  messageId: string;
  enrollmentId: string;
  scenarioId: string;
  stepId: string;
  channel: Channel;
  template: string;
  subject?: string;
  variant?: string;
  transactional: boolean;
  /** Subscription topic of the message, if the step names one. */
  topic?: string;
  /** What the template is rendered with: the user's traits and the trigger event's properties (as `event` and `trigger`). */
  variables: { user: Record<string, unknown>; event: Record<string, unknown>; trigger: Record<string, unknown> };
  /** The checks made when queuing, for the audit trail. */
  checks: SendChecks;
}

export interface SendChecks {
  subscribed: boolean;
  caps: Array<{ rule: CapRule; used: number }>;
  quietHours: 'outside' | 'exempt' | 'none';
  timezone: string;
}

export type SuppressionReason = 'frequency_cap' | 'quiet_hours' | 'unsubscribed' | 'holdout';

export interface MessageSuppressed {
  messageId: string;
  enrollmentId: string;
  scenarioId: string;
  stepId: string;
  channel: Channel;
  reason: SuppressionReason;
  variant?: string;
  /** For frequency_cap: the rule and when a send would next be allowed. */
  rule?: CapRule;
  nextAllowedAt?: string;
}

export interface MessageDeferred {
  messageId: string;
  enrollmentId: string;
  scenarioId: string;
  stepId: string;
  channel: Channel;
  reason: 'quiet_hours';
  until: string;
  timezone: string;
}

export interface GoalReached {
  enrollmentId: string;
  scenarioId: string;
  version: number;
  eventId: string;
  /** Step id -> variant key (or `holdout`) assigned in this enrolment. */
  variants: Record<string, string>;
  /** Milliseconds from enrolment start to the goal event. */
  afterMs: number;
}

export interface WebhookRequested {
  /** Sent as the Idempotency-Key header, so a receiver can drop a repeat after a crash. */
  requestId: string;
  enrollmentId: string;
  scenarioId: string;
  stepId: string;
  url: string;
  method: 'POST' | 'PUT' | 'GET';
  headers: Record<string, string>;
  body?: unknown;
  retries: number;
}

/**
 * `merged_into_user`: an identity link moved the enrolment to the user's stream, where it goes on
 * (`EnrollmentMerged`); `merged_already_enrolled`: the link ended it, because the user already had an
 * active enrolment in the scenario (at most one per user and scenario).
 */
export type ExitReason = 'completed' | 'exit_step' | 'exit_on' | 'archived' | 'step_missing' | 'merged_into_user' | 'merged_already_enrolled';

export interface EnrollmentExited {
  enrollmentId: string;
  scenarioId: string;
  reason: ExitReason;
  stepId?: string;
}

/**
 * An active enrolment that an identity link (`IdentityLinked`, `linkEventId`) moved from the linked
 * identity's stream (`from`, e.g. `anon:…`) to the user's, with the state it had there; it keeps
 * its id, so the enrolment is counted once (it was started once) and its variants stay assigned.
 * Its pending timer follows as a `TimerScheduled` on the user's stream, for the same due time.
 */
export interface EnrollmentMerged {
  enrollmentId: string;
  scenarioId: string;
  version: number;
  from: string;
  linkEventId: string;
  /** When the enrolment started (ISO 8601), for goal windows and re-entry. */
  startedAt: string;
  trigger: TriggerInfo;
  step?: string;
  variants: Record<string, string>;
  visits: Record<string, number>;
  goalReached: boolean;
}

/**
 * What the engine knew of a linked identity (`from`, e.g. `anon:…`) when an identity link joined it
 * to the user, merged into the user's state so the person is one: traits, groups, event counters,
 * subscriptions (`mergeProfiles`) and the messages counted by the frequency caps. Recorded once per
 * link, before any `EnrollmentMerged` of the same link.
 */
export interface PersonMerged {
  from: string;
  linkEventId: string;
  profile: Profile;
  /** The linked identity's messages still inside the longest cap window. */
  capped: QueuedMessage[];
  /**
   * The linked identity's enrolment starts per scenario, for `entry.reenter`, leaving out the
   * enrolments this link moves (their `EnrollmentMerged` counts them).
   */
  starts: Record<string, { at: number; count: number }>;
}

/** A decision before it gets its id: the server derives the id from the cause and `key`. */
export type Decision =
  | { type: 'EnrollmentStarted'; key: string; data: EnrollmentStarted }
  | { type: 'StepCompleted'; key: string; data: StepCompleted }
  | { type: 'TimerScheduled'; key: string; data: TimerScheduled }
  | { type: 'VariantAssigned'; key: string; data: VariantAssigned }
  | { type: 'MessageQueued'; key: string; data: MessageQueued }
  | { type: 'MessageSuppressed'; key: string; data: MessageSuppressed }
  | { type: 'MessageDeferred'; key: string; data: MessageDeferred }
  | { type: 'GoalReached'; key: string; data: GoalReached }
  | { type: 'EnrollmentExited'; key: string; data: EnrollmentExited }
  | { type: 'EnrollmentMerged'; key: string; data: EnrollmentMerged }
  | { type: 'PersonMerged'; key: string; data: PersonMerged }
  | { type: 'WebhookRequested'; key: string; data: WebhookRequested };

export const SCENARIO_DECISION_TYPES = [
  'EnrollmentStarted',
  'StepCompleted',
  'TimerScheduled',
  'VariantAssigned',
  'MessageQueued',
  'MessageSuppressed',
  'MessageDeferred',
  'GoalReached',
  'EnrollmentExited',
  'EnrollmentMerged',
  'PersonMerged',
  'WebhookRequested',
] as const;
