/**
 * The scenario engine's decisions for one person, as a pure function of their state, the cause
 * (a user event, a segment change, a fired timer, an API call), the scenarios in force, the
 * messaging settings and the moment. Steps run until the enrolment has to wait (a timer or an
 * event) or ends. Every decision is folded into a working copy of the state as it is made, so a
 * second send in the same run already sees the first one against the caps.
 */
import type { DomainEvent } from '../events';
import { occurrenceTime, profileTimeZone } from '../profiles';
import { checkSend, heldMessage, type MessagingSettings, resolveTimeZone, rulesFor } from '../messaging';
import { compareValue, type Condition, evaluateCondition, type PropertyFilter, valueAtPath } from '../segments';
import { gbHash } from '../stats';
import { chooseVariantAfterHoldout } from '../stats/assignment';
import { parseDuration, timeZoneOffset, wallTimeToInstant } from '../time';
import { evolvePersonState, type EnrollmentState, type PersonState, type PersonStateOptions } from './person-state';
import type { BranchCondition, ScenarioDefinition, SendStep, Step } from './scenario-definition';
import { fillPlaceholders, fillText } from './placeholders';
import type { Decision, ExitReason, ScenarioTimerFired, TimerPurpose, TriggerInfo } from './scenario-events';

export type ScenarioStatus = 'active' | 'paused' | 'archived';

/** The scenarios of the person's workspace, as published. */
export interface ScenarioCatalogView {
  /** The latest version of every scenario that is not archived, with its status. */
  current(): Array<{ definition: ScenarioDefinition; version: number; status: ScenarioStatus }>;
  /** A specific version (running enrolments finish on theirs). */
  version(scenarioId: string, version: number): ScenarioDefinition | undefined;
  latest(scenarioId: string): { definition: ScenarioDefinition; version: number; status: ScenarioStatus } | undefined;
  /**
   * The concluded experiment of an A/B step, if it was concluded (as of the cause's position in
   * the log, so a replay assigns as the first run did).
   */
  conclusion?(scenarioId: string, stepId: string): { winner: string; eventId: string } | undefined;
}

export type DecideCause =
  | { kind: 'event'; event: DomainEvent }
  /** `POST /api/scenarios/:id/trigger`; the id comes from the Idempotency-Key. */
  | { kind: 'api'; id: string; scenarioId: string; properties: Record<string, unknown> }
  /** A scheduled broadcast reaching this member; the id names the scenario, occurrence and person. */
  | { kind: 'schedule'; id: string; scenarioId: string; properties: Record<string, unknown> };

export interface DecideInput {
  cause: DecideCause;
  now: number;
  scenarios: ScenarioCatalogView;
  settings: MessagingSettings;
  options?: PersonStateOptions;
}

const MAX_STEPS_PER_RUN = 200;

export function causeId(cause: DecideCause): string {
  return cause.kind === 'event' ? cause.event.id : cause.id;
}

/**
 * The moment the engine decides on an event, the cause's moment for Herald: a timer's due time, a
 * segment change's decision time (itself a timer's due time when time passing caused it), else when
 * the event arrived. The server and the simulator both decide at it, so a timer that fired late
 * gives the same decisions in both.
 */
export function decisionMoment(event: DomainEvent): number {
  if (event.type === 'TimerFired') return Date.parse((event.data as { dueAt: string }).dueAt);
  if (event.type === 'SegmentEntered' || event.type === 'SegmentExited') return Date.parse(event.metadata.occurredAt);
  return Date.parse(event.metadata.receivedAt);
}

/** The decisions for `input.cause`; empty when it was already decided on. */
export function decide(state: PersonState, input: DecideInput): Decision[] {
  if (state.handled.includes(causeId(input.cause))) return [];
  const run = new Run(state, input);
  run.go();
  return run.decisions;
}

/** The log event types that are user actions to scenarios (see `userAction`). */
export const USER_ACTION_TYPES = ['Tracked', 'PageViewed', 'ScreenViewed'] as const;

/** A user action as scenarios see it: its name and properties; undefined for other events. */
export function userAction(event: DomainEvent): { name: string; properties: Record<string, unknown> } | undefined {
  const data = (event.data ?? {}) as Record<string, unknown>;
  const properties = (data.properties && typeof data.properties === 'object' ? data.properties : {}) as Record<string, unknown>;
  if (event.type === 'Tracked' && typeof data.event === 'string') return { name: data.event, properties };
  if (event.type === 'PageViewed') return { name: 'Page Viewed', properties: { name: data.name, ...properties } };
  if (event.type === 'ScreenViewed') return { name: 'Screen Viewed', properties: { name: data.name, ...properties } };
  return undefined;
}

/** Dates without an offset in a filter's value read in `timeZone`, the person's (as in segments). */
function matchesFilters(properties: Record<string, unknown>, filters: PropertyFilter[] | undefined, now: number, timeZone: string): boolean {
  return (filters ?? []).every((filter) => compareValue(valueAtPath(properties, filter.property), filter.op, filter.value, now, timeZone));
}

class Run {
  readonly decisions: Decision[] = [];
  private state: PersonState;
  private readonly id: string;

  constructor(
    initial: PersonState,
    private readonly input: DecideInput,
  ) {
    this.state = initial;
    this.id = causeId(input.cause);
  }

  go(): void {
    const { cause } = this.input;
    if (cause.kind === 'api' || cause.kind === 'schedule') {
      const scenario = this.input.scenarios.latest(cause.scenarioId);
      const kind = cause.kind === 'api' ? 'api' : 'schedule';
      if (scenario && kind in scenario.definition.trigger) {
        const type = cause.kind === 'api' ? 'ApiTriggered' : 'ScheduledBroadcast';
        this.tryEnroll(scenario, { eventId: cause.id, type, properties: cause.properties });
      }
      return;
    }
    const event = cause.event;
    if (event.type === 'TimerFired') return this.onTimer(event.data as ScenarioTimerFired);
    const action = userAction(event);
    if (action) {
      this.onAction(event, action);
    }
    for (const scenario of this.input.scenarios.current()) {
      const trigger = scenario.definition.trigger;
      const fires =
        (action && 'event' in trigger && trigger.event === action.name && matchesFilters(action.properties, trigger.where, this.now, this.timeZone)) ||
        ('segment' in trigger &&
          ((event.type === 'SegmentEntered' && 'entered' in trigger.segment && trigger.segment.entered === segmentOf(event)) ||
            (event.type === 'SegmentExited' && 'exited' in trigger.segment && trigger.segment.exited === segmentOf(event))));
      if (fires) {
        this.tryEnroll(scenario, { eventId: event.id, type: event.type, event: action?.name, properties: action?.properties ?? {} });
      }
    }
  }

  private get now(): number {
    return this.input.now;
  }

  /** The person's zone for dates without an offset (their `timezone` trait, else the workspace's), as segments read them. */
  private get timeZone(): string {
    return profileTimeZone(this.state.profile, this.input.settings.timezone);
  }

  private emit(decision: Decision): void {
    this.decisions.push(decision);
    // Fold it at once, as the log will, so later steps of this run see it.
    const event: DomainEvent = {
      id: `${this.id}|${decision.key}`,
      type: decision.type,
      data: decision.data,
      metadata: {
        workspace: '',
        causationId: this.id,
        occurredAt: new Date(this.now).toISOString(),
        receivedAt: new Date(this.now).toISOString(),
        schemaVersion: 1,
      },
    };
    this.state = evolvePersonState(this.state, event, this.input.options);
  }

  // Causes

  private onAction(event: DomainEvent, action: { name: string; properties: Record<string, unknown> }): void {
    // When it happened, but never after we received it: a device clock ahead of ours cannot move a
    // purchase out of the goal's window or past a waitFor's timeout.
    const at = occurrenceTime(event) ?? this.now;
    for (const enrollment of Object.values(this.state.enrollments)) {
      const definition = this.definitionOf(enrollment);
      if (!definition) continue;
      // Goals count after the enrolment started, within the goal's window, whether or not it is still running.
      const goal = definition.goal;
      if (
        goal &&
        !enrollment.goalReached &&
        goal.event === action.name &&
        matchesFilters(action.properties, goal.where, this.now, this.timeZone) &&
        at >= enrollment.startedAt &&
        at <= enrollment.startedAt + parseDuration(goal.within)
      ) {
        this.emit({
          type: 'GoalReached',
          key: `goal|${enrollment.id}`,
          data: {
            enrollmentId: enrollment.id,
            scenarioId: enrollment.scenarioId,
            version: enrollment.version,
            eventId: event.id,
            variants: enrollment.variants,
            afterMs: at - enrollment.startedAt,
          },
        });
      }
      if (enrollment.status !== 'active') continue;
      if ((definition.exitOn ?? []).some((rule) => rule.event === action.name && matchesFilters(action.properties, rule.where, this.now, this.timeZone))) {
        this.endEnrollment(enrollment, 'exit_on', enrollment.step);
        continue;
      }
      const step = enrollment.step ? definition.steps.find((s) => s.id === enrollment.step) : undefined;
      if (step && 'waitFor' in step && enrollment.timer?.purpose === 'waitFor-timeout') {
        const wanted = step.waitFor;
        // A property missing on either side never matches (two events without an order_id are not the same order).
        const sameAsTrigger = (wanted.matchTrigger ?? []).every((property) => {
          const value = valueAtPath(action.properties, property);
          return value !== undefined && value !== null && value === valueAtPath(enrollment.trigger.properties, property);
        });
        // An event after the timeout's due time is too late, even if the timer has not fired yet.
        const inTime = at <= enrollment.timer.dueAt;
        if (inTime && wanted.event === action.name && matchesFilters(action.properties, wanted.where, this.now, this.timeZone) && sameAsTrigger) {
          this.complete(enrollment, step, 'event');
          this.runFrom(this.state.enrollments[enrollment.id], step.onEvent);
        }
      }
    }
  }

  private onTimer(fired: ScenarioTimerFired): void {
    if (fired.purpose !== 'scenario') return;
    const enrollment = this.state.enrollments[fired.enrollmentId];
    if (!enrollment || enrollment.status !== 'active' || enrollment.timer?.id !== fired.timerId) return;
    const latest = this.input.scenarios.latest(enrollment.scenarioId);
    if (!latest || latest.status === 'archived') return this.endEnrollment(enrollment, 'archived', enrollment.step);
    const definition = this.definitionOf(enrollment);
    const step = definition?.steps.find((s) => s.id === enrollment.step);
    if (!definition || !step) return this.endEnrollment(enrollment, 'step_missing', enrollment.step);
    if (latest.status === 'paused') {
      // Held in place: look again in an hour.
      return this.schedule(enrollment, step.id, 'paused', this.now + 3_600_000);
    }
    switch (enrollment.timer.purpose) {
      case 'deferred':
      case 'paused':
        return this.runFrom(enrollment, step.id);
      case 'waitFor-timeout':
        if (!('waitFor' in step)) return this.endEnrollment(enrollment, 'step_missing', step.id);
        this.complete(enrollment, step, 'timeout');
        return this.runFrom(this.state.enrollments[enrollment.id], step.onTimeout);
      case 'wait':
      case 'waitUntil':
        this.complete(enrollment, step);
        return this.runFrom(this.state.enrollments[enrollment.id], this.nextOf(definition, step));
    }
  }

  private tryEnroll(scenario: { definition: ScenarioDefinition; version: number; status: string }, trigger: TriggerInfo): void {
    const { definition, version } = scenario;
    if (scenario.status !== 'active') return;
    const entry = definition.entry ?? {};
    const previous = this.state.starts[definition.id];
    const reenter = entry.reenter ?? 'once';
    if (previous) {
      if (reenter === 'once') return;
      if (reenter.startsWith('after ') && previous.at + parseDuration(reenter.slice(6).trim()) > this.now) return;
    }
    const running = Object.values(this.state.enrollments).some((e) => e.scenarioId === definition.id && e.status === 'active');
    if (running && !entry.concurrent) return;
    const enrollmentId = `${definition.id}/${this.id}`;
    this.emit({
      type: 'EnrollmentStarted',
      key: `enroll|${definition.id}`,
      data: { enrollmentId, scenarioId: definition.id, version, person: this.state.person, trigger },
    });
    this.runFrom(this.state.enrollments[enrollmentId], definition.steps[0]?.id);
  }

  // Running steps

  private runFrom(enrollment: EnrollmentState, stepId: string | undefined): void {
    let current: string | undefined = stepId;
    for (let guard = 0; guard < MAX_STEPS_PER_RUN; guard++) {
      const live = this.state.enrollments[enrollment.id];
      if (!live || live.status !== 'active') return;
      const definition = this.definitionOf(live);
      if (current === undefined) return this.endEnrollment(live, 'completed');
      const step = definition?.steps.find((s) => s.id === current);
      if (!definition || !step) return this.endEnrollment(live, 'step_missing', current);
      const next = this.runStep(live, definition, step);
      if (next === 'wait') return;
      current = next;
    }
    // A definition that loops without waiting is rejected by the linter; this is the last line of defence.
    this.endEnrollment(this.state.enrollments[enrollment.id], 'step_missing', current);
  }

  /** Runs one step; returns the next step id, undefined at the end, or 'wait' when it must wait. */
  private runStep(enrollment: EnrollmentState, definition: ScenarioDefinition, step: Step): string | undefined | 'wait' {
    if ('send' in step) return this.send(enrollment, definition, step, step.send);
    if ('wait' in step) {
      this.schedule(enrollment, step.id, 'wait', this.now + parseDuration(step.wait));
      return 'wait';
    }
    if ('waitUntil' in step) {
      this.schedule(enrollment, step.id, 'waitUntil', this.nextLocalTime(step.waitUntil.time, step.waitUntil.days));
      return 'wait';
    }
    if ('waitFor' in step) {
      this.schedule(enrollment, step.id, 'waitFor-timeout', this.now + parseDuration(step.waitFor.timeout));
      return 'wait';
    }
    if ('branch' in step) {
      const chosen = step.branch.find((branchCase) => this.branchHolds(branchCase.when, enrollment))?.next ?? step.otherwise;
      this.complete(enrollment, step, chosen);
      return chosen;
    }
    if ('webhook' in step) {
      // The call is recorded as an intent; the webhook worker makes it (with retries) and records the
      // outcome. The enrolment does not wait for it.
      const visit = enrollment.visits[step.id] ?? 0;
      const scope = { user: this.state.profile.traits, trigger: enrollment.trigger.properties, event: enrollment.trigger.properties };
      const { url, method = 'POST', headers = {}, body, retries = 0 } = step.webhook;
      this.emit({
        type: 'WebhookRequested',
        key: `webhook|${enrollment.id}|${step.id}|${visit}`,
        data: {
          requestId: `${enrollment.id}/${step.id}/${visit}`,
          enrollmentId: enrollment.id,
          scenarioId: enrollment.scenarioId,
          stepId: step.id,
          url: fillUrl(url, scope),
          method,
          headers: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, fillText(value, scope)])),
          ...(body === undefined || method === 'GET' ? {} : { body: fillPlaceholders(body, scope) }),
          retries,
        },
      });
      this.complete(enrollment, step, 'requested');
      return this.nextOf(definition, step);
    }
    this.endEnrollment(enrollment, 'exit_step', step.id);
    return 'wait';
  }

  private send(enrollment: EnrollmentState, definition: ScenarioDefinition, step: Step, send: SendStep): string | undefined | 'wait' {
    const visit = enrollment.visits[step.id] ?? 0;
    const messageId = `${enrollment.id}/${step.id}/${visit}`;
    const base = { messageId, enrollmentId: enrollment.id, scenarioId: enrollment.scenarioId, stepId: step.id, channel: send.channel };
    let variantKey = enrollment.variants[step.id];
    if (variantKey === undefined && (send.variants || send.holdout)) {
      variantKey = this.assignVariant(enrollment, step.id, send);
    }
    const variant = send.variants?.find((v) => v.key === variantKey);
    if (variantKey === 'holdout') {
      this.emit({ type: 'MessageSuppressed', key: `suppressed|${messageId}`, data: { ...base, reason: 'holdout', variant: 'holdout' } });
      this.complete(enrollment, step, 'holdout');
      return this.nextOf(definition, step);
    }
    const transactional = send.transactional === true;
    const profile = this.state.profile;
    const subscribed = profile.subscriptions[send.channel] !== false;
    if (!subscribed && !transactional) {
      this.emit({ type: 'MessageSuppressed', key: `suppressed|${messageId}`, data: { ...base, reason: 'unsubscribed', variant: variantKey } });
      this.complete(enrollment, step, 'suppressed');
      return this.nextOf(definition, step);
    }
    const userTimezone = typeof profile.traits.timezone === 'string' ? profile.traits.timezone : undefined;
    const timezone = resolveTimeZone(this.input.settings, userTimezone);
    const exemptQuietHours = send.quietHours === 'ignore';
    const request = { channel: send.channel, now: this.now, timezone: userTimezone, transactional, exemptQuietHours };
    const verdict = checkSend(this.state.caps, this.input.settings, request);
    const held = verdict.allowed ? undefined : heldMessage(this.state.caps, this.input.settings, request, verdict);
    if (held?.outcome === 'defer') {
      const until = new Date(held.until).toISOString();
      this.emit({ type: 'MessageDeferred', key: `deferred|${messageId}`, data: { ...base, reason: 'quiet_hours', until, timezone: held.timezone } });
      this.schedule(enrollment, step.id, 'deferred', held.until);
      return 'wait';
    }
    if (held) {
      this.emit({
        type: 'MessageSuppressed',
        key: `suppressed|${messageId}`,
        data: { ...base, reason: 'frequency_cap', variant: variantKey, rule: held.rule, nextAllowedAt: new Date(held.nextAllowedAt).toISOString() },
      });
      this.complete(enrollment, step, 'suppressed');
      return this.nextOf(definition, step);
    }
    const rules = rulesFor(this.input.settings, request);
    this.emit({
      type: 'MessageQueued',
      key: `queued|${messageId}`,
      data: {
        ...base,
        template: variant?.template ?? send.template ?? '',
        subject: variant?.subject ?? send.subject,
        variant: variantKey,
        transactional,
        ...(send.topic ? { topic: send.topic } : {}),
        variables: { user: profile.traits, event: enrollment.trigger.properties, trigger: enrollment.trigger.properties },
        checks: {
          subscribed,
          caps: rules.map((rule) => ({ rule, used: countInWindow(this.state, rule.channel, rule.per, this.now) })),
          quietHours: exemptQuietHours ? 'exempt' : this.input.settings.quietHours ? 'outside' : 'none',
          timezone,
        },
      },
    });
    this.complete(enrollment, step, 'queued');
    return this.nextOf(definition, step);
  }

  private assignVariant(enrollment: EnrollmentState, stepId: string, send: SendStep): string {
    const seed = `${enrollment.scenarioId}:${stepId}`;
    const userId = this.state.person.replace(/^(user|anon):/, '');
    const bucket = gbHash(seed, userId, 2) ?? 0;
    const holdout = (send.holdout ?? 0) / 100;
    // After a conclusion the winner takes every enrolment but the holdout's share; a winner that is
    // no longer a variant (a later version changed them) concludes nothing.
    const concluded = this.input.scenarios.conclusion?.(enrollment.scenarioId, stepId);
    const conclusion = concluded && send.variants?.some((v) => v.key === concluded.winner) ? concluded : undefined;
    let variant: string;
    if (bucket < holdout) variant = 'holdout';
    else if (conclusion) variant = conclusion.winner;
    else if (!send.variants || send.variants.length === 0) variant = 'default';
    else {
      // The rest of the range is spread over the variants by weight, as GrowthBook's bucket ranges do.
      const index = chooseVariantAfterHoldout(bucket, send.variants.map((v) => v.weight), send.holdout ?? 0);
      variant = send.variants[Math.max(0, index)].key;
    }
    this.emit({
      type: 'VariantAssigned',
      key: `variant|${enrollment.id}|${stepId}`,
      data: {
        enrollmentId: enrollment.id,
        scenarioId: enrollment.scenarioId,
        stepId,
        variant,
        bucket,
        hashVersion: 2,
        seed,
        ...(conclusion ? { concludedBy: conclusion.eventId } : {}),
      },
    });
    return variant;
  }

  private branchHolds(condition: BranchCondition, enrollment: EnrollmentState): boolean {
    if ('trigger' in condition) {
      return compareValue(valueAtPath(enrollment.trigger.properties, condition.trigger), condition.op, condition.value, this.now, this.timeZone);
    }
    if ('all' in condition) return (condition.all as BranchCondition[]).every((c) => this.branchHolds(c, enrollment));
    if ('any' in condition) return (condition.any as BranchCondition[]).some((c) => this.branchHolds(c, enrollment));
    if ('not' in condition) return !this.branchHolds(condition.not as BranchCondition, enrollment);
    return evaluateCondition(condition as Condition, {
      profile: this.state.profile,
      now: this.now,
      isMember: (segmentId) => this.state.segments.includes(segmentId),
      timezone: this.timeZone,
    });
  }

  // Decisions that move an enrolment

  private schedule(enrollment: EnrollmentState, stepId: string, purpose: TimerPurpose, dueAt: number): void {
    const timerId = `${enrollment.id}/${stepId}/${this.id}`;
    this.emit({
      type: 'TimerScheduled',
      key: `timer|${enrollment.id}|${stepId}`,
      data: { timerId, enrollmentId: enrollment.id, scenarioId: enrollment.scenarioId, stepId, purpose, dueAt: new Date(dueAt).toISOString() },
    });
  }

  private complete(enrollment: EnrollmentState, step: Step, outcome?: string): void {
    const visit = this.state.enrollments[enrollment.id]?.visits[step.id] ?? 0;
    this.emit({
      type: 'StepCompleted',
      key: `step|${enrollment.id}|${step.id}|${visit}`,
      data: { enrollmentId: enrollment.id, scenarioId: enrollment.scenarioId, stepId: step.id, ...(outcome ? { outcome } : {}) },
    });
  }

  private endEnrollment(enrollment: EnrollmentState, reason: ExitReason, stepId?: string): void {
    if (enrollment.status !== 'active') return;
    this.emit({
      type: 'EnrollmentExited',
      key: `exit|${enrollment.id}`,
      data: { enrollmentId: enrollment.id, scenarioId: enrollment.scenarioId, reason, ...(stepId ? { stepId } : {}) },
    });
  }

  private nextOf(definition: ScenarioDefinition, step: Step): string | undefined {
    if (step.next) return step.next;
    const index = definition.steps.findIndex((s) => s.id === step.id);
    return definition.steps[index + 1]?.id;
  }

  /** The version an enrolment runs on: its own, or the latest when that one says to migrate. */
  private definitionOf(enrollment: EnrollmentState): ScenarioDefinition | undefined {
    const latest = this.input.scenarios.latest(enrollment.scenarioId);
    if (latest && latest.version > enrollment.version && latest.definition.migrate) return latest.definition;
    return this.input.scenarios.version(enrollment.scenarioId, enrollment.version);
  }

  /** The next moment after now when the user's local clock shows `time` on an allowed weekday. */
  private nextLocalTime(time: string, days?: string[]): number {
    const userTimezone = typeof this.state.profile.traits.timezone === 'string' ? this.state.profile.traits.timezone : undefined;
    const zone = resolveTimeZone(this.input.settings, userTimezone);
    const [hours, minutes] = time.split(':').map(Number);
    const wallNow = this.now + timeZoneOffset(zone, this.now);
    const today = new Date(wallNow);
    const names = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
    for (let day = 0; day <= 7; day++) {
      const wall = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + day, hours, minutes);
      const weekday = names[new Date(wall).getUTCDay()];
      if (days && days.length > 0 && !days.includes(weekday as never)) continue;
      const instant = wallTimeToInstant(wall, zone);
      if (instant > this.now) return instant;
    }
    return this.now + 86_400_000;
  }
}

/** Placeholders are filled only after the host, and URL-encoded there. */
function fillUrl(url: string, scope: Record<string, Record<string, unknown>>): string {
  const hostEnd = url.indexOf('/', url.indexOf('//') + 2);
  if (hostEnd < 0) return url;
  return url.slice(0, hostEnd) + fillText(url.slice(hostEnd), scope, encodeURIComponent);
}

function segmentOf(event: DomainEvent): string | undefined {
  return (event.data as { segmentId?: string }).segmentId;
}

function countInWindow(state: PersonState, channel: string, per: string, now: number): number {
  const windowMs = parseDuration(per);
  return state.caps.sent.filter((m) => !m.transactional && (channel === 'any' || m.channel === channel) && m.at > now - windowMs && m.at <= now).length;
}
