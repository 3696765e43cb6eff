/**
 * Frequency caps and quiet hours for one user: a fold over the messages queued for them, and the
 * decision whether one more may be queued now, and if not, why and when.
 *
 * This answers from a snapshot; the scenario engine makes it race-free by appending the
 * resulting `MessageQueued` against the user's stream revision.
 */
import type { DomainEvent } from '../events';
import { parseDuration } from '../time/durations';
import { isTimeZone } from '../time/instants';
import { CHANNELS, type CapRule, type Channel, type MessagingSettings } from './messaging-settings';
import { isQuietAt, quietHoursEndAfter } from './quiet-hours';

export interface QueuedMessage {
  channel: Channel;
  at: number;
  transactional: boolean;
}

/** Messages queued for one user, ascending by time, trimmed to the longest cap window. */
export interface CapState {
  sent: QueuedMessage[];
}

export interface MessageQueuedData {
  channel: Channel;
  transactional?: boolean;
  [key: string]: unknown;
}

export const CAP_EVENT_TYPES = ['MessageQueued'] as const;

export const initialCapState = (): CapState => ({ sent: [] });

export const canHandleCapEvent = (event: DomainEvent): boolean => (CAP_EVENT_TYPES as readonly string[]).includes(event.type);

const isChannel = (value: unknown): value is Channel => (CHANNELS as readonly unknown[]).includes(value);

/**
 * Folds a `MessageQueued` event (time = `metadata.occurredAt`) into the state; other types are
 * ignored. Entries at or before `maxWindowMs` before the latest known time can no longer be in any
 * window and are dropped. Pure: returns a new state, or the same one when nothing changes.
 */
export function evolveCapState(state: CapState, event: DomainEvent, maxWindowMs: number): CapState {
  if (event.type !== 'MessageQueued') return state;
  const data = event.data as Partial<MessageQueuedData> | null | undefined;
  const at = Date.parse(event.metadata.occurredAt);
  // A message on a channel Herald does not know cannot be capped by any rule worth trusting.
  if (!isChannel(data?.channel) || Number.isNaN(at)) return state;
  const last = state.sent.at(-1);
  const now = Math.max(at, last?.at ?? at);
  const horizon = now - maxWindowMs;
  if (at <= horizon) return state;
  const entry: QueuedMessage = { channel: data.channel, at, transactional: data.transactional === true };
  const kept = state.sent.filter((message) => message.at > horizon);
  // Events normally arrive in time order; insert after any equal time to keep the log's order.
  let index = kept.length;
  while (index > 0 && kept[index - 1]!.at > at) index--;
  kept.splice(index, 0, entry);
  return { sent: kept };
}

export type SendVerdict =
  | { allowed: true }
  | { allowed: false; reason: 'frequency_cap'; rule: CapRule; used: number; nextAllowedAt: number }
  | { allowed: false; reason: 'quiet_hours'; nextAllowedAt: number; timezone: string };

export interface SendRequest {
  channel: Channel;
  now: number;
  /** The user's `timezone` trait; ignored unless it is a valid IANA zone. */
  timezone?: string;
  /** Service messages (receipts, password resets): never capped, and not counted. */
  transactional?: boolean;
  /** Skip quiet hours for this message (e.g. a transactional one that cannot wait). */
  exemptQuietHours?: boolean;
}

const windows = new Map<string, number>();
function windowMs(rule: CapRule): number {
  let ms = windows.get(rule.per);
  if (ms === undefined) {
    ms = parseDuration(rule.per);
    windows.set(rule.per, ms);
  }
  return ms;
}

const counts = (rule: CapRule, message: QueuedMessage): boolean =>
  !message.transactional && (rule.channel === 'any' || rule.channel === message.channel);

/** The non-transactional messages a rule counts at `at`: those queued in (at - per, at], oldest first. */
function countedAt(state: CapState, rule: CapRule, at: number): QueuedMessage[] {
  const from = at - windowMs(rule);
  return state.sent.filter((message) => message.at > from && message.at <= at && counts(rule, message));
}

/**
 * The most messages the rule counts in one window (t - per, t] that holds `at`: the window ending at
 * `at`, or one ending at a message queued less than `per` after it. Later messages exist when a
 * decision is made at an earlier moment than the log's latest messages (a timer that fires late,
 * after a restart, decides at its due time): the cap must hold in the windows it shares with them.
 */
function fullestWindowAt(state: CapState, rule: CapRule, at: number): number {
  const per = windowMs(rule);
  let fullest = countedAt(state, rule, at).length;
  for (const later of state.sent) {
    if (later.at > at && later.at < at + per && counts(rule, later)) fullest = Math.max(fullest, countedAt(state, rule, later.at).length);
  }
  return fullest;
}

/**
 * When a rule next allows a send at or after `at`: once enough of the counted messages have left
 * the windows that hold that moment that each holds fewer than `max` (normally: when the oldest one
 * leaves). A send held back becomes possible only when a message leaves, at its time plus `per`.
 */
function ruleAllowsFrom(state: CapState, rule: CapRule, at: number): number {
  if (fullestWindowAt(state, rule, at) < rule.max) return at;
  const per = windowMs(rule);
  for (const message of state.sent) {
    const leaves = message.at + per;
    if (leaves > at && counts(rule, message) && fullestWindowAt(state, rule, leaves) < rule.max) return leaves;
  }
  // Unreachable: once the last counted message has left, no window holds any.
  return (state.sent.at(-1)?.at ?? at) + per;
}

export function resolveTimeZone(settings: MessagingSettings, userTimeZone?: string): string {
  if (isTimeZone(userTimeZone)) return userTimeZone;
  if (isTimeZone(settings.timezone)) return settings.timezone;
  return 'UTC';
}

/**
 * Whether a message on `channel` may be queued at `now`. When not, `nextAllowedAt` is the earliest
 * moment at which every cap and quiet hours all allow it, and `reason` names the constraint that
 * holds out longest: the one that decided `nextAllowedAt`.
 */
export function checkSend(state: CapState, settings: MessagingSettings, request: SendRequest): SendVerdict {
  const { now } = request;
  const timezone = resolveTimeZone(settings, request.timezone);
  const quietHours = request.exemptQuietHours ? undefined : settings.quietHours;
  const rules = rulesFor(settings, request);

  let at = now;
  let decidedBy: { reason: 'quiet_hours' } | { reason: 'frequency_cap'; rule: CapRule } | undefined;
  // Quiet hours and caps each push `at` forward until neither does; caps only relax with time,
  // so this settles within a few rounds.
  for (let round = 0; round < 100; round++) {
    let moved = false;
    if (quietHours) {
      const quietEnd = quietHoursEndAfter(at, quietHours, timezone);
      if (quietEnd > at) {
        at = quietEnd;
        decidedBy = { reason: 'quiet_hours' };
        moved = true;
      }
    }
    const latest = latestBlockingRule(state, rules, at);
    if (latest) {
      at = latest.at;
      decidedBy = { reason: 'frequency_cap', rule: latest.rule };
      moved = true;
    }
    if (!moved) break;
  }

  if (!decidedBy) return { allowed: true };
  if (decidedBy.reason === 'quiet_hours') return { allowed: false, reason: 'quiet_hours', nextAllowedAt: at, timezone };
  const { rule } = decidedBy;
  return { allowed: false, reason: 'frequency_cap', rule, used: fullestWindowAt(state, rule, now), nextAllowedAt: at };
}

/**
 * What the engine does with a message `checkSend` holds back (docs/scenarios.md, "send"):
 * - `defer` while quiet hours hold it now and no cap outlasts them: it goes out at `until`, when they
 *   end (a cap that lifts during quiet hours does not keep it back then);
 * - `suppress` when a cap blocks it: one that outlasts quiet hours, or one that blocks it now outside
 *   quiet hours, even when that cap lifts during the next quiet hours (`checkSend` then names quiet
 *   hours, which bound its next allowed time: a marketing message is not held for days).
 */
export type HeldMessage =
  | { outcome: 'defer'; until: number; timezone: string }
  | { outcome: 'suppress'; rule: CapRule; used: number; nextAllowedAt: number };

export function heldMessage(state: CapState, settings: MessagingSettings, request: SendRequest, verdict: Exclude<SendVerdict, { allowed: true }>): HeldMessage {
  if (verdict.reason === 'frequency_cap') return { outcome: 'suppress', rule: verdict.rule, used: verdict.used, nextAllowedAt: verdict.nextAllowedAt };
  const quietNow = !request.exemptQuietHours && settings.quietHours !== undefined && isQuietAt(request.now, settings.quietHours, verdict.timezone);
  // Not quiet now: only a cap can hold the message now; the one that lifts last names it.
  const capped = quietNow ? undefined : latestBlockingRule(state, rulesFor(settings, request), request.now)?.rule;
  if (!capped) return { outcome: 'defer', until: verdict.nextAllowedAt, timezone: verdict.timezone };
  return { outcome: 'suppress', rule: capped, used: fullestWindowAt(state, capped, request.now), nextAllowedAt: verdict.nextAllowedAt };
}

/** The caps that count for a message: those of its channel and of `any`; none for a transactional one. */
export function rulesFor(settings: MessagingSettings, request: Pick<SendRequest, 'channel' | 'transactional'>): CapRule[] {
  return request.transactional ? [] : settings.caps.filter((rule) => rule.channel === 'any' || rule.channel === request.channel);
}

/** Of `rules`, the one that holds a send back at `at` for longest, and until when; undefined if none does. */
function latestBlockingRule(state: CapState, rules: CapRule[], at: number): { at: number; rule: CapRule } | undefined {
  let latest: { at: number; rule: CapRule } | undefined;
  for (const rule of rules) {
    const allowsFrom = ruleAllowsFrom(state, rule, at);
    if (allowsFrom > at && (!latest || allowsFrom > latest.at)) latest = { at: allowsFrom, rule };
  }
  return latest;
}

export interface CapUsage {
  rule: CapRule;
  used: number;
  max: number;
  /** When the oldest counted message leaves the window; absent when none is counted. */
  resetsAt?: number;
}

/** Per rule: how many messages count at `now`, of how many, and when the oldest of them stops counting. */
export function capUsage(state: CapState, settings: MessagingSettings, now: number): CapUsage[] {
  return settings.caps.map((rule) => {
    const counted = countedAt(state, rule, now);
    const oldest = counted[0];
    return {
      rule,
      used: counted.length,
      max: rule.max,
      ...(oldest && { resetsAt: oldest.at + windowMs(rule) }),
    };
  });
}

/** The longest cap window: how far back `evolveCapState` must remember; 0 without caps. */
export function maxCapWindowMs(settings: MessagingSettings): number {
  return settings.caps.reduce((longest, rule) => Math.max(longest, windowMs(rule)), 0);
}
