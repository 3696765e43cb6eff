/**
 * The scenario definition language: the types every part of the engine shares. Parsing,
 * validation and linting live in `parse-scenario.ts`.
 */
import type { Channel, Condition, PropertyFilter } from '../segments';

/** What starts an enrolment. Exactly one of the shapes. */
export type Trigger =
  /** An event the user performed, optionally with property filters. */
  | { event: string; where?: PropertyFilter[] }
  /** The user entered (or exited) a segment; inactivity is a segment with a not-performed window. */
  | { segment: { entered: string } | { exited: string } }
  /** A recurring or one-off broadcast to a segment's members. */
  | { schedule: { segment: string; at?: string /* ISO, one-off */; every?: string /* duration, recurring */; localTime?: string /* "HH:MM" in each user's timezone */ } }
  /** Only through `POST /api/scenarios/:id/trigger` (transactional messages). */
  | { api: true };

export interface EntryRules {
  /** `once` (ever), `always`, or `after <duration>` since the previous enrolment started. Default `once`. */
  reenter?: 'once' | 'always' | `after ${string}`;
  /** Allow several active enrolments of one user at once. Default false. */
  concurrent?: boolean;
}

export interface Variant {
  key: string;
  weight: number;
  template: string;
  subject?: string;
}

export interface AutoWinner {
  /** Exposures every variant needs before a winner may be declared. */
  minExposures: number;
  /** The sequential test's significance level; default 0.05. */
  alpha?: number;
}

export interface SendStep {
  channel: Channel;
  template?: string;
  subject?: string;
  variants?: Variant[];
  /** Percentage (0-100) of enrolments that get no message and are still measured. */
  holdout?: number;
  /** The control variant's key (default: the first variant). */
  control?: string;
  /**
   * Conclude the A/B test by itself: once the sequential test finds a winner at `alpha`, the
   * sample ratio matches the weights and every variant has `minExposures`, new enrolments get the
   * winner (the holdout keeps its share). See docs/statistics.md.
   */
  autoWinner?: AutoWinner;
  /** Service messages: exempt from marketing caps (and, with `quietHours: ignore`, from quiet hours). */
  transactional?: boolean;
  quietHours?: 'respect' | 'ignore';
  /** Subscription topic (e.g. `newsletter`): people unsubscribed from it, or from the channel, are not sent it. */
  topic?: string;
}

export interface WaitForStep {
  event: string;
  where?: PropertyFilter[];
  /** Property names whose value must equal the trigger event's (e.g. the same `cart_id`). */
  matchTrigger?: string[];
  timeout: string;
}

export interface WaitUntilStep {
  /** Local time of day "HH:MM" in the user's timezone. */
  time: string;
  /** Allowed weekdays (mon..sun); default every day. */
  days?: Array<'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun'>;
}

export interface BranchCase {
  /** A segment condition over the user, plus `{ trigger: property, op, value }` on the trigger event. */
  when: BranchCondition;
  next: string;
}

export type BranchCondition =
  | Condition
  | { trigger: string; op: PropertyFilter['op']; value?: unknown }
  | { all: BranchCondition[] }
  | { any: BranchCondition[] }
  | { not: BranchCondition };

export interface WebhookStep {
  url: string;
  method?: 'POST' | 'PUT' | 'GET';
  headers?: Record<string, string>;
  /** Liquid-free JSON body; `{{ }}` placeholders are resolved by the engine from user and trigger. */
  body?: unknown;
  retries?: number;
}

export type Step = { id: string; next?: string } & (
  | { send: SendStep }
  | { wait: string }
  | { waitUntil: WaitUntilStep }
  | { waitFor: WaitForStep; onEvent: string; onTimeout: string }
  | { branch: BranchCase[]; otherwise: string }
  | { webhook: WebhookStep }
  | { exit: true }
);

export interface Goal {
  event: string;
  where?: PropertyFilter[];
  within: string;
}

export interface ScenarioDefinition {
  id: string;
  name: string;
  description?: string;
  trigger: Trigger;
  entry?: EntryRules;
  exitOn?: Array<{ event: string; where?: PropertyFilter[] }>;
  goal?: Goal;
  /** Steps run in order; `next`, `onEvent`/`onTimeout` and branch targets jump by id. */
  steps: Step[];
  /** When publishing a new version: move running enrolments to it (by step id). Default false. */
  migrate?: boolean;
}

export type StepKind = 'send' | 'wait' | 'waitUntil' | 'waitFor' | 'branch' | 'webhook' | 'exit';

export function stepKind(step: Step): StepKind {
  if ('send' in step) return 'send';
  if ('wait' in step) return 'wait';
  if ('waitUntil' in step) return 'waitUntil';
  if ('waitFor' in step) return 'waitFor';
  if ('branch' in step) return 'branch';
  if ('webhook' in step) return 'webhook';
  return 'exit';
}
