/**
 * Validation of untrusted input (parsed YAML or JSON) into a `ScenarioDefinition`, with every
 * problem named by its path (`steps[2].waitFor.timeout`). Shapes, values and references between
 * steps are checked here; what is well formed but confusing (unreachable steps, loops without a
 * wait...) is `lintScenario`'s, and its findings fail the parse too. `docs/scenarios.md` is the
 * reference for users; `scenario-schema.ts` publishes the same language as a JSON Schema.
 */
import { CHANNELS, MAX_CONDITION_DEPTH, SEGMENT_ID_PATTERN, isPlainObject, parseSegmentDefinition } from '../segments/segment-definition';
import { TIME_OF_DAY } from '../messaging/quiet-hours';
import { DurationError, isDuration, parseDuration } from '../time/durations';
import { isIsoDate } from '../time/instants';
import { lintScenario, type LintRule } from './lint-scenario';
import { nestingProblem, toPlain, tooDeeplyNested } from '../plain-input';
import type { ScenarioDefinition } from './scenario-definition';

/** Scenario, step and variant ids, and template ids: the same rule as segment ids. */
export const SCENARIO_ID_PATTERN = SEGMENT_ID_PATTERN;
export const TEMPLATE_ID_PATTERN = SEGMENT_ID_PATTERN;
export const STEP_KINDS = ['send', 'wait', 'waitUntil', 'waitFor', 'branch', 'webhook', 'exit'] as const;
export const TRIGGER_KINDS = ['event', 'segment', 'schedule', 'api'] as const;
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export const WEBHOOK_METHODS = ['POST', 'PUT', 'GET'] as const;
export const MAX_WEBHOOK_RETRIES = 10;
/** An HTTP header name (RFC 9110 token). */
export const HTTP_HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Analytics reports the held-out enrolments as the variant keyed `holdout`, so no variant may use it. */
export const HOLDOUT_KEY = 'holdout';
/** Subscription topics: a person can unsubscribe from one topic of a channel (e.g. the newsletter). */
export const TOPIC_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export interface ScenarioProblem {
  /** Where the problem is, e.g. `steps[2].waitFor.timeout`; empty for the definition as a whole. */
  path: string;
  message: string;
  /** Set for the linter's findings (see `lintScenario`). */
  rule?: LintRule;
}

export type ParseScenarioResult = { ok: true; definition: ScenarioDefinition } | { ok: false; problems: ScenarioProblem[] };

const DEFINITION_FIELDS = ['id', 'name', 'description', 'trigger', 'entry', 'exitOn', 'goal', 'steps', 'migrate'];
const ENTRY_FIELDS = ['reenter', 'concurrent'];
const EVENT_MATCH_FIELDS = ['event', 'where'];
const GOAL_FIELDS = ['event', 'where', 'within'];
const SCHEDULE_FIELDS = ['segment', 'at', 'every', 'localTime'];
const SEND_FIELDS = ['channel', 'template', 'subject', 'variants', 'holdout', 'control', 'autoWinner', 'transactional', 'quietHours', 'topic'];
const AUTO_WINNER_FIELDS = ['minExposures', 'alpha'];
/** An auto-winner may not stop on less evidence than this significance level allows. */
export const MAX_AUTO_WINNER_ALPHA = 0.2;
export const MAX_MIN_EXPOSURES = 1_000_000_000;
/**
 * The largest variant weight. Weights are relative, so this loses nothing (1 and 1,000,000 is a
 * one-in-a-million split) and keeps the sum of any list of weights finite: weights such as 1e308
 * would sum to Infinity, which no split and no sample-ratio check can be computed from.
 */
export const MAX_VARIANT_WEIGHT = 1_000_000;
const VARIANT_FIELDS = ['key', 'weight', 'template', 'subject'];
const WAIT_UNTIL_FIELDS = ['time', 'days'];
const WAIT_FOR_FIELDS = ['event', 'where', 'matchTrigger', 'timeout'];
const BRANCH_CASE_FIELDS = ['when', 'next'];
const WEBHOOK_FIELDS = ['url', 'method', 'headers', 'body', 'retries'];
const QUIET_HOURS = ['respect', 'ignore'];
const STEP_FIELDS: Record<(typeof STEP_KINDS)[number], readonly string[]> = {
  send: ['id', 'next', 'send'],
  wait: ['id', 'next', 'wait'],
  waitUntil: ['id', 'next', 'waitUntil'],
  waitFor: ['id', 'waitFor', 'onEvent', 'onTimeout'],
  branch: ['id', 'branch', 'otherwise'],
  webhook: ['id', 'next', 'webhook'],
  exit: ['id', 'exit'],
};
/** Why `next` is not a field of the steps that do not take it. */
const NO_NEXT: Partial<Record<(typeof STEP_KINDS)[number], string>> = {
  waitFor: 'a waitFor step goes on at onEvent or onTimeout, not next',
  branch: "a branch goes on at the matching case's next or at otherwise, not next",
  exit: 'an exit step ends the enrolment; it has no next',
};
/** The segment language's conditions, plus `trigger` for the trigger event's properties. */
const BRANCH_CONDITION_KEYS = ['trait', 'performed', 'not', 'all', 'any', 'segment', 'subscribed', 'trigger'] as const;
const DAY_MS = 86_400_000;

type Report = (path: string, message: string) => void;
type TriggerKind = (typeof TRIGGER_KINDS)[number];
interface Walk {
  report: Report;
  /** The trigger's kind once known: `matchTrigger` and `trigger:` conditions need a trigger event. */
  trigger: TriggerKind | undefined;
  /** Every jump (`next`, `onEvent`, `onTimeout`, branch targets), checked once all step ids are known. */
  targets: Array<{ path: string; target: unknown }>;
}

const list = (items: readonly string[]) => items.join(', ');
const show = (value: unknown) => {
  if (value === undefined) return 'nothing';
  const text = typeof value === 'number' ? String(value) : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
};
const child = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);
const isId = (value: unknown): value is string => typeof value === 'string' && SCENARIO_ID_PATTERN.test(value);
const ID_RULE = 'use 1 to 64 lowercase letters, digits, "-" or "_", starting with a letter or digit';

/**
 * Validates untrusted input (parsed YAML or JSON) as a scenario definition and returns it, or every
 * problem found. Unknown fields are rejected. When the shape is right the definition is linted and
 * the linter's findings are the problems (each with its `rule`). YAML `Date` values are read as ISO
 * strings. Defaults are not filled in: the definition comes back as written.
 */
export function parseScenarioDefinition(input: unknown): ParseScenarioResult {
  const deep = tooDeeplyNested(input);
  if (deep !== undefined) return { ok: false, problems: [nestingProblem(deep)] };
  const value = toPlain(input);
  const problems: ScenarioProblem[] = [];
  const walk: Walk = { report: (path, message) => problems.push({ path, message }), trigger: undefined, targets: [] };
  const { report } = walk;

  if (!isPlainObject(value)) {
    report('', 'a scenario definition is an object with id, name, trigger and steps (and optionally description, entry, exitOn, goal, migrate)');
    return { ok: false, problems };
  }
  rejectUnknownFields(value, '', DEFINITION_FIELDS, 'a scenario definition', report);

  if (!('id' in value)) report('id', 'missing field: a scenario needs an id such as abandoned-cart');
  else if (!isId(value.id)) report('id', `${show(value.id)} is not a scenario id: ${ID_RULE}`);

  if (!('name' in value)) report('name', 'missing field: a scenario needs a name');
  else if (typeof value.name !== 'string' || value.name.trim() === '') report('name', `must be a non-empty string, got ${show(value.name)}`);

  if ('description' in value && typeof value.description !== 'string') report('description', `must be a string, got ${show(value.description)}`);

  if (!('trigger' in value)) report('trigger', `missing field: a scenario needs a trigger (one of ${list(TRIGGER_KINDS)})`);
  else walk.trigger = checkTrigger(value.trigger, 'trigger', report);

  if ('entry' in value) checkEntry(value.entry, 'entry', report);

  if ('exitOn' in value) {
    if (!Array.isArray(value.exitOn)) report('exitOn', `exitOn takes a list of events, e.g. [{ event: Order Completed }]; got ${show(value.exitOn)}`);
    else if (value.exitOn.length === 0) report('exitOn', 'exitOn needs at least one event (or leave it out)');
    else value.exitOn.forEach((item, index) => checkEventMatch(item, `exitOn[${index}]`, EVENT_MATCH_FIELDS, 'an exitOn event', report));
  }

  if ('goal' in value) {
    const goal = value.goal;
    if (checkEventMatch(goal, 'goal', GOAL_FIELDS, 'a goal', report) && isPlainObject(goal)) {
      if (!('within' in goal)) report('goal.within', 'missing field: a goal counts within a window after enrolment, e.g. within: 72h');
      else checkDuration(goal.within, 'goal.within', report);
    }
  }

  if (!('steps' in value)) report('steps', 'missing field: a scenario needs a list of steps');
  else checkSteps(value.steps, walk);

  if ('migrate' in value && typeof value.migrate !== 'boolean') report('migrate', `must be true or false, got ${show(value.migrate)}`);

  if (problems.length > 0) return { ok: false, problems };
  const definition = value as unknown as ScenarioDefinition;
  const findings = lintScenario(definition);
  if (findings.length > 0) return { ok: false, problems: findings };
  return { ok: true, definition };
}

// ---------------------------------------------------------------------------------------------
// Trigger, entry, exitOn, goal

function checkTrigger(input: unknown, path: string, report: Report): TriggerKind | undefined {
  if (!isPlainObject(input)) {
    report(path, `a trigger is an object with one of ${list(TRIGGER_KINDS)}, e.g. { event: Signed Up }; got ${show(input)}`);
    return undefined;
  }
  const kinds = TRIGGER_KINDS.filter((key) => key in input);
  if (kinds.length === 0) {
    const keys = Object.keys(input);
    report(path, `a trigger has one of ${list(TRIGGER_KINDS)}${keys.length ? ` (found ${list(keys)})` : ''}`);
    return undefined;
  }
  if (kinds.length > 1) {
    report(path, `a trigger has exactly one of ${list(TRIGGER_KINDS)}, found ${kinds.join(' and ')}; a scenario has one trigger`);
    return undefined;
  }
  const kind = kinds[0];
  switch (kind) {
    case 'event':
      rejectUnknownFields(input, path, EVENT_MATCH_FIELDS, 'an event trigger', report);
      checkEventName(input.event, child(path, 'event'), report);
      if ('where' in input) checkFilters(input.where, child(path, 'where'), report);
      break;
    case 'segment': {
      rejectUnknownFields(input, path, ['segment'], 'a segment trigger', report);
      const segmentPath = child(path, 'segment');
      const segment = input.segment;
      const directions = isPlainObject(segment) ? Object.keys(segment) : [];
      if (!isPlainObject(segment) || directions.length !== 1 || (directions[0] !== 'entered' && directions[0] !== 'exited')) {
        report(segmentPath, `segment takes { entered: <segment id> } or { exited: <segment id> }, got ${show(segment)}`);
      } else {
        checkSegmentId(segment[directions[0]], child(segmentPath, directions[0]), report);
      }
      break;
    }
    case 'schedule':
      rejectUnknownFields(input, path, ['schedule'], 'a schedule trigger', report);
      checkSchedule(input.schedule, child(path, 'schedule'), report);
      break;
    case 'api':
      rejectUnknownFields(input, path, ['api'], 'an api trigger', report);
      if (input.api !== true) report(child(path, 'api'), `an api trigger is written api: true, got ${show(input.api)}`);
      break;
    default: {
      const unhandled: never = kind;
      throw new Error(`unhandled trigger kind ${String(unhandled)}`);
    }
  }
  return kind;
}

function checkSchedule(input: unknown, path: string, report: Report): void {
  if (!isPlainObject(input)) {
    report(path, `a schedule is an object with segment and at (one-off) or every (recurring), got ${show(input)}`);
    return;
  }
  rejectUnknownFields(input, path, SCHEDULE_FIELDS, 'a schedule', report);
  if (!('segment' in input)) report(child(path, 'segment'), 'missing field: a schedule sends to the members of a segment');
  else checkSegmentId(input.segment, child(path, 'segment'), report);

  const when = (['at', 'every'] as const).filter((key) => key in input);
  if (when.length === 0) report(path, 'a schedule needs at (an ISO date, one-off) or every (a duration, recurring)');
  else if (when.length > 1) report(path, 'a schedule has at (one-off) or every (recurring), not both');

  if ('at' in input && !isIsoDate(input.at)) report(child(path, 'at'), `${show(input.at)} is not an ISO 8601 date or date-time, e.g. 2026-03-01T10:00`);
  if ('every' in input) checkDuration(input.every, child(path, 'every'), report);
  if ('localTime' in input) {
    const localTimePath = child(path, 'localTime');
    if (checkTimeOfDay(input.localTime, localTimePath, report)) {
      // At a local time of day, a recurrence is a number of days and a one-off is a date.
      if (isDuration(input.every) && parseDuration(input.every) % DAY_MS !== 0) {
        report(child(path, 'every'), `with localTime, every is a number of days or weeks (e.g. 1d, 1w), got ${show(input.every)}`);
      }
      if (isIsoDate(input.at) && input.at.includes('T')) {
        report(child(path, 'at'), `with localTime, at is a date such as 2026-03-01 (the time of day is localTime), got ${show(input.at)}`);
      }
    }
  }
}

function checkEntry(input: unknown, path: string, report: Report): void {
  if (!isPlainObject(input)) {
    report(path, `entry is an object with reenter and concurrent, e.g. { reenter: after 7d }; got ${show(input)}`);
    return;
  }
  rejectUnknownFields(input, path, ENTRY_FIELDS, 'entry', report);
  const reenter = input.reenter;
  if ('reenter' in input) {
    const reenterPath = child(path, 'reenter');
    if (typeof reenter === 'string' && reenter.startsWith('after ')) {
      const duration = reenter.slice('after '.length);
      if (!isDuration(duration)) report(reenterPath, `${new DurationError(duration).message} (in ${show(reenter)})`);
    } else if (reenter !== 'once' && reenter !== 'always') {
      report(reenterPath, `${show(reenter)} is not an entry rule: use once, always or after <duration> (e.g. after 7d)`);
    }
  }
  if ('concurrent' in input) {
    const concurrentPath = child(path, 'concurrent');
    if (typeof input.concurrent !== 'boolean') report(concurrentPath, `must be true or false, got ${show(input.concurrent)}`);
    else if (input.concurrent && (reenter === undefined || reenter === 'once')) {
      report(concurrentPath, 'concurrent has no effect with reenter: once (the default), where a user enrols only once; set reenter to always or after <duration>');
    }
  }
}

/** `{ event, where? }` (exitOn items) or `{ event, where?, within }` (goal); false when not an object. */
function checkEventMatch(input: unknown, path: string, fields: readonly string[], what: string, report: Report): boolean {
  if (!isPlainObject(input)) {
    report(path, `${what} is an object with ${list(fields)}, e.g. { event: Order Completed }; got ${show(input)}`);
    return false;
  }
  rejectUnknownFields(input, path, fields, what, report);
  checkEventName(input.event, child(path, 'event'), report);
  if ('where' in input) checkFilters(input.where, child(path, 'where'), report);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Steps

function checkSteps(input: unknown, walk: Walk): void {
  const { report } = walk;
  if (!Array.isArray(input)) {
    report('steps', `steps is a list of steps, each with an id and one of ${list(STEP_KINDS)}; got ${show(input)}`);
    return;
  }
  if (input.length === 0) {
    report('steps', 'a scenario needs at least one step');
    return;
  }
  const firstIndex = new Map<string, number>();
  input.forEach((step, index) => {
    const path = `steps[${index}]`;
    if (!isPlainObject(step)) {
      report(path, `a step is an object with an id and one of ${list(STEP_KINDS)}, got ${show(step)}`);
      return;
    }
    const idPath = child(path, 'id');
    if (!('id' in step)) report(idPath, 'missing field: every step has an id, e.g. id: wait-1h');
    else if (!isId(step.id)) report(idPath, `${show(step.id)} is not a step id: ${ID_RULE}`);
    else if (firstIndex.has(step.id)) report(idPath, `step id "${step.id}" is already used by steps[${firstIndex.get(step.id)}]`);
    else firstIndex.set(step.id, index);
    checkStep(step, path, walk);
  });

  const ids = [...firstIndex.keys()];
  for (const { path, target } of walk.targets) {
    if (!isId(target)) report(path, `${show(target)} is not a step id: name the id of a step of this scenario`);
    else if (!firstIndex.has(target)) report(path, `no step has id "${target}"; the steps are ${list(ids)}`);
  }
}

function checkStep(step: Record<string, unknown>, path: string, walk: Walk): void {
  const { report } = walk;
  const kinds = STEP_KINDS.filter((key) => key in step);
  if (kinds.length === 0) {
    const others = Object.keys(step).filter((key) => key !== 'id' && key !== 'next');
    report(path, `a step has one of ${list(STEP_KINDS)}${others.length ? ` (found ${list(others)})` : ''}`);
    return;
  }
  if (kinds.length > 1) {
    report(path, `a step has exactly one of ${list(STEP_KINDS)}, found ${kinds.join(' and ')}; make them separate steps`);
    return;
  }
  const kind = kinds[0];
  const fields = STEP_FIELDS[kind];
  for (const key of Object.keys(step)) {
    if (fields.includes(key)) continue;
    const noNext = NO_NEXT[kind];
    if (key === 'next' && noNext !== undefined) report(child(path, key), noNext);
    else report(child(path, key), `unknown field "${key}" in a ${kind} step; allowed fields are ${list(fields)}`);
  }
  const jump = (key: string, missing: string) => {
    if (!(key in step)) report(child(path, key), `missing field: ${missing}`);
    else walk.targets.push({ path: child(path, key), target: step[key] });
  };
  if (fields.includes('next') && 'next' in step) walk.targets.push({ path: child(path, 'next'), target: step.next });

  const bodyPath = child(path, kind);
  switch (kind) {
    case 'send':
      checkSend(step.send, bodyPath, report);
      return;
    case 'wait':
      checkDuration(step.wait, bodyPath, report);
      return;
    case 'waitUntil':
      checkWaitUntil(step.waitUntil, bodyPath, report);
      return;
    case 'waitFor':
      checkWaitFor(step.waitFor, bodyPath, walk);
      jump('onEvent', 'the id of the step to go to when the event arrives');
      jump('onTimeout', 'the id of the step to go to when the timeout passes first');
      return;
    case 'branch':
      checkBranch(step.branch, bodyPath, walk);
      jump('otherwise', 'the id of the step to go to when no case matches');
      return;
    case 'webhook':
      checkWebhook(step.webhook, bodyPath, report);
      return;
    case 'exit':
      if (step.exit !== true) report(bodyPath, `an exit step is written exit: true, got ${show(step.exit)}`);
      return;
    default: {
      const unhandled: never = kind;
      throw new Error(`unhandled step kind ${String(unhandled)}`);
    }
  }
}

function checkSend(input: unknown, path: string, report: Report): void {
  if (!isPlainObject(input)) {
    report(path, `send is an object with channel and template (or variants), got ${show(input)}`);
    return;
  }
  rejectUnknownFields(input, path, SEND_FIELDS, 'send', report);
  const channelPath = child(path, 'channel');
  if (!('channel' in input)) report(channelPath, `missing field: use one of ${list(CHANNELS)}`);
  else if (!(CHANNELS as readonly unknown[]).includes(input.channel)) report(channelPath, `unknown channel ${show(input.channel)}; use one of ${list(CHANNELS)}`);

  // Neither template nor variants is the linter's send-without-template.
  if ('template' in input && 'variants' in input) {
    report(path, 'a send step has template (one message) or variants (an A/B test), not both; put each template in a variant');
  }
  if ('template' in input) checkTemplateId(input.template, child(path, 'template'), report);
  if ('subject' in input) checkNonEmptyString(input.subject, child(path, 'subject'), 'a subject line (Liquid placeholders allowed)', report);

  const keys = 'variants' in input ? checkVariants(input.variants, child(path, 'variants'), report) : undefined;

  const holdoutPath = child(path, 'holdout');
  const holdout = input.holdout;
  if ('holdout' in input && (typeof holdout !== 'number' || !Number.isFinite(holdout) || holdout < 0 || holdout >= 100)) {
    report(holdoutPath, `holdout is the percentage of enrolments that get no message, a number from 0 to less than 100; got ${show(holdout)}`);
  }

  if ('control' in input) {
    const controlPath = child(path, 'control');
    if (!('variants' in input)) report(controlPath, 'control names the control variant; this step has no variants');
    else if (keys !== undefined && !keys.includes(input.control as string)) {
      report(controlPath, `${show(input.control)} is not a variant of this step; the variants are ${list(keys)}`);
    }
  }

  if ('autoWinner' in input) checkAutoWinner(input.autoWinner, child(path, 'autoWinner'), 'variants' in input, report);

  const transactional = input.transactional;
  if ('transactional' in input && typeof transactional !== 'boolean') report(child(path, 'transactional'), `must be true or false, got ${show(transactional)}`);
  if (transactional === true && typeof holdout === 'number' && holdout > 0) {
    report(holdoutPath, 'a transactional message (a receipt, a password reset) is never held out; remove holdout or transactional');
  }
  if ('topic' in input && (typeof input.topic !== 'string' || !TOPIC_PATTERN.test(input.topic))) {
    report(child(path, 'topic'), `topic is a short name like newsletter or product-updates (${TOPIC_PATTERN.source}), got ${show(input.topic)}`);
  }
  if ('quietHours' in input) {
    const quietPath = child(path, 'quietHours');
    if (!QUIET_HOURS.includes(input.quietHours as string)) report(quietPath, `quietHours is respect or ignore, got ${show(input.quietHours)}`);
    else if (input.quietHours === 'ignore' && transactional !== true) {
      report(quietPath, 'only transactional messages may ignore quiet hours; add transactional: true if this is a service message');
    }
  }
}

function checkAutoWinner(input: unknown, path: string, hasVariants: boolean, report: Report): void {
  if (!isPlainObject(input)) {
    report(path, `autoWinner is an object { minExposures, alpha }, e.g. { minExposures: 1000, alpha: 0.05 }; got ${show(input)}`);
    return;
  }
  if (!hasVariants) report(path, 'autoWinner picks one of the variants; this step has no variants');
  rejectUnknownFields(input, path, AUTO_WINNER_FIELDS, 'autoWinner', report);
  const minPath = child(path, 'minExposures');
  const min = input.minExposures;
  if (!('minExposures' in input)) report(minPath, 'missing field: the exposures every variant needs before a winner is declared, e.g. minExposures: 1000');
  else if (typeof min !== 'number' || !Number.isInteger(min) || min < 1 || min > MAX_MIN_EXPOSURES) {
    report(minPath, `minExposures is a whole number from 1 to ${MAX_MIN_EXPOSURES}, got ${show(min)}`);
  }
  const alpha = input.alpha;
  if ('alpha' in input && (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0 || alpha > MAX_AUTO_WINNER_ALPHA)) {
    report(child(path, 'alpha'), `alpha is the significance level, a number above 0 and at most ${MAX_AUTO_WINNER_ALPHA} (0.05 is usual); got ${show(alpha)}`);
  }
}

/** The variant keys, when `variants` is a list. */
function checkVariants(input: unknown, path: string, report: Report): string[] | undefined {
  if (!Array.isArray(input)) {
    report(path, `variants is a list of { key, weight, template, subject }, got ${show(input)}`);
    return undefined;
  }
  if (input.length < 2) report(path, 'an A/B test needs at least two variants; for a single message use template (and holdout to measure it)');
  const keys: string[] = [];
  input.forEach((variant, index) => {
    const variantPath = `${path}[${index}]`;
    if (!isPlainObject(variant)) {
      report(variantPath, `a variant is an object with key, weight and template (subject is optional), got ${show(variant)}`);
      return;
    }
    rejectUnknownFields(variant, variantPath, VARIANT_FIELDS, 'a variant', report);
    const keyPath = child(variantPath, 'key');
    const key = variant.key;
    if (!('key' in variant)) report(keyPath, 'missing field: every variant has a key, e.g. key: plain');
    else if (!isId(key)) report(keyPath, `${show(key)} is not a variant key: ${ID_RULE}`);
    else if (key === HOLDOUT_KEY) report(keyPath, 'the key holdout is reserved for the enrolments held out; name the variant otherwise');
    else if (keys.includes(key)) report(keyPath, `variant key "${key}" is already used by ${path}[${keys.indexOf(key)}]`);
    keys.push(typeof key === 'string' ? key : '');

    const weightPath = child(variantPath, 'weight');
    const weight = variant.weight;
    if (!('weight' in variant)) report(weightPath, 'missing field: a variant has a weight > 0 (weights are relative: 50 and 50 split evenly)');
    else if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) report(weightPath, `a weight is a number > 0, got ${show(weight)}`);
    else if (weight > MAX_VARIANT_WEIGHT) {
      report(weightPath, `a weight is at most ${MAX_VARIANT_WEIGHT} (weights are relative: 50 and 50 split evenly), got ${show(weight)}`);
    }

    // A variant without a template is the linter's send-without-template.
    if ('template' in variant) checkTemplateId(variant.template, child(variantPath, 'template'), report);
    if ('subject' in variant) checkNonEmptyString(variant.subject, child(variantPath, 'subject'), 'a subject line (Liquid placeholders allowed)', report);
  });
  return keys;
}

function checkWaitUntil(input: unknown, path: string, report: Report): void {
  if (!isPlainObject(input)) {
    report(path, `waitUntil is an object with time ("HH:MM") and optionally days, e.g. { time: "10:00", days: [mon, tue] }; got ${show(input)}`);
    return;
  }
  rejectUnknownFields(input, path, WAIT_UNTIL_FIELDS, 'waitUntil', report);
  const timePath = child(path, 'time');
  if (!('time' in input)) report(timePath, 'missing field: the local time of day to wait for, "HH:MM"');
  else checkTimeOfDay(input.time, timePath, report);

  if ('days' in input) {
    const daysPath = child(path, 'days');
    const days = input.days;
    if (!Array.isArray(days)) report(daysPath, `days is a list of weekdays (${list(WEEKDAYS)}), got ${show(days)}`);
    else if (days.length === 0) report(daysPath, 'days needs at least one weekday (or leave it out for every day)');
    else {
      days.forEach((day, index) => {
        const dayPath = `${daysPath}[${index}]`;
        if (!(WEEKDAYS as readonly unknown[]).includes(day)) report(dayPath, `${show(day)} is not a weekday; use ${list(WEEKDAYS)}`);
        else if (days.indexOf(day) !== index) report(dayPath, `${day} is listed twice`);
      });
    }
  }
}

function checkWaitFor(input: unknown, path: string, walk: Walk): void {
  const { report } = walk;
  if (!isPlainObject(input)) {
    report(path, `waitFor is an object with event and timeout (and optionally where, matchTrigger), got ${show(input)}`);
    return;
  }
  rejectUnknownFields(input, path, WAIT_FOR_FIELDS, 'waitFor', report);
  checkEventName(input.event, child(path, 'event'), report);
  if ('where' in input) checkFilters(input.where, child(path, 'where'), report);
  if ('matchTrigger' in input) {
    const matchPath = child(path, 'matchTrigger');
    const properties = input.matchTrigger;
    if (!Array.isArray(properties)) report(matchPath, `matchTrigger is a list of property names, e.g. [cart_id]; got ${show(properties)}`);
    else if (properties.length === 0) report(matchPath, 'matchTrigger needs at least one property name (or leave it out)');
    else {
      properties.forEach((property, index) => {
        const propertyPath = `${matchPath}[${index}]`;
        if (typeof property !== 'string' || property.trim() === '') report(propertyPath, `expected a property name (a dotted path such as order.id is allowed), got ${show(property)}`);
        else if (properties.indexOf(property) !== index) report(propertyPath, `${property} is listed twice`);
      });
      requireTriggerEvent(walk, matchPath, 'matchTrigger compares with the properties of the trigger event');
    }
  }
  // A missing timeout is the linter's waitfor-without-timeout.
  if ('timeout' in input) checkDuration(input.timeout, child(path, 'timeout'), report);
}

function checkBranch(input: unknown, path: string, walk: Walk): void {
  const { report } = walk;
  if (!Array.isArray(input)) {
    report(path, `branch is a list of cases { when, next }, tried in order; got ${show(input)}`);
    return;
  }
  if (input.length === 0) report(path, 'a branch needs at least one case { when, next }');
  input.forEach((item, index) => {
    const casePath = `${path}[${index}]`;
    if (!isPlainObject(item)) {
      report(casePath, `a branch case is an object with when (a condition) and next (a step id), got ${show(item)}`);
      return;
    }
    rejectUnknownFields(item, casePath, BRANCH_CASE_FIELDS, 'a branch case', report);
    if (!('when' in item)) report(child(casePath, 'when'), 'missing field: the condition of this case');
    else checkBranchCondition(item.when, child(casePath, 'when'), 1, walk);
    if (!('next' in item)) report(child(casePath, 'next'), 'missing field: the id of the step to go to when the condition holds');
    else walk.targets.push({ path: child(casePath, 'next'), target: item.next });
  });
}

function checkWebhook(input: unknown, path: string, report: Report): void {
  if (!isPlainObject(input)) {
    report(path, `webhook is an object with url (and optionally method, headers, body, retries), got ${show(input)}`);
    return;
  }
  rejectUnknownFields(input, path, WEBHOOK_FIELDS, 'webhook', report);
  const urlPath = child(path, 'url');
  if (!('url' in input)) report(urlPath, 'missing field: the http(s) URL to call');
  else if (!isHttpUrl(input.url)) report(urlPath, `${show(input.url)} is not an http:// or https:// URL`);

  const method = input.method;
  if ('method' in input && !(WEBHOOK_METHODS as readonly unknown[]).includes(method)) {
    report(child(path, 'method'), `method is one of ${list(WEBHOOK_METHODS)}, got ${show(method)}`);
  }
  if ('headers' in input) {
    const headersPath = child(path, 'headers');
    const headers = input.headers;
    if (!isPlainObject(headers)) report(headersPath, `headers is an object of header names and string values, got ${show(headers)}`);
    else {
      for (const [name, text] of Object.entries(headers)) {
        const headerPath = child(headersPath, name);
        if (!HTTP_HEADER_NAME.test(name)) report(headerPath, `${show(name)} is not a valid HTTP header name`);
        else if (typeof text !== 'string') report(headerPath, `a header value is a string, got ${show(text)}`);
      }
    }
  }
  if ('body' in input && method === 'GET') report(child(path, 'body'), 'a GET request has no body; use POST or PUT');
  if ('retries' in input) {
    const retries = input.retries;
    if (typeof retries !== 'number' || !Number.isSafeInteger(retries) || retries < 0 || retries > MAX_WEBHOOK_RETRIES) {
      report(child(path, 'retries'), `retries is a whole number from 0 to ${MAX_WEBHOOK_RETRIES}, got ${show(retries)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Branch conditions: the segment language's conditions, which may also compare trigger properties

function checkBranchCondition(input: unknown, path: string, depth: number, walk: Walk): void {
  const { report } = walk;
  if (depth > MAX_CONDITION_DEPTH) {
    report(path, `conditions nest deeper than ${MAX_CONDITION_DEPTH} levels`);
    return;
  }
  if (!isPlainObject(input)) {
    const hint = Array.isArray(input) ? '; to combine several conditions put them under all: or any:' : '';
    report(path, `a condition is an object with one of ${list(BRANCH_CONDITION_KEYS)}, got ${show(input)}${hint}`);
    return;
  }
  const kinds = BRANCH_CONDITION_KEYS.filter((key) => key in input);
  if (kinds.length > 1) {
    report(path, `a condition has exactly one of ${list(BRANCH_CONDITION_KEYS)}, found ${kinds.join(' and ')}; combine them under all: or any:`);
    return;
  }
  if (kinds.length === 0) {
    const keys = Object.keys(input);
    if (keys.includes('op') || keys.includes('value')) {
      report(path, 'missing field: a comparison names its subject, trait: <trait> (the user) or trigger: <property> (the trigger event)');
    } else if (keys.some((key) => key === 'where' || key === 'count' || key === 'within')) {
      report(child(path, 'performed'), 'missing field: a performed condition names the event, e.g. performed: Order Completed');
    } else {
      report(path, `not a condition: use one of ${list(BRANCH_CONDITION_KEYS)}${keys.length ? ` (found ${list(keys)})` : ''}`);
    }
    return;
  }
  const kind = kinds[0];
  switch (kind) {
    case 'trigger': {
      rejectUnknownFields(input, path, ['trigger', 'op', 'value'], 'a trigger condition', report);
      checkNonEmptyString(input.trigger, child(path, 'trigger'), 'a property of the trigger event (a dotted path such as cart.total is allowed)', report);
      checkComparison(input, path, report);
      requireTriggerEvent(walk, child(path, 'trigger'), 'a trigger condition compares a property of the trigger event');
      return;
    }
    case 'all':
    case 'any': {
      rejectUnknownFields(input, path, [kind], `an ${kind} condition`, report);
      const items = input[kind];
      const itemsPath = child(path, kind);
      if (!Array.isArray(items)) report(itemsPath, `${kind} takes a list of conditions, got ${show(items)}`);
      else if (items.length === 0) report(itemsPath, `${kind} needs at least one condition`);
      else items.forEach((item, index) => checkBranchCondition(item, `${itemsPath}[${index}]`, depth + 1, walk));
      return;
    }
    case 'not':
      rejectUnknownFields(input, path, ['not'], 'a not condition', report);
      checkBranchCondition(input.not, child(path, 'not'), depth + 1, walk);
      return;
    case 'trait':
    case 'performed':
    case 'segment':
    case 'subscribed':
      checkSegmentCondition(input, path, report);
      return;
    default: {
      const unhandled: never = kind;
      throw new Error(`unhandled condition kind ${String(unhandled)}`);
    }
  }
}

function requireTriggerEvent(walk: Walk, path: string, what: string): void {
  if (walk.trigger === 'segment' || walk.trigger === 'schedule') {
    walk.report(path, `${what}, and a ${walk.trigger} trigger has none; use an event or api trigger`);
  }
}

// ---------------------------------------------------------------------------------------------
// The segment language's validation, reused: conditions, property filters and comparisons are
// checked by parseSegmentDefinition on a wrapper, and its problems are moved to the scenario's
// paths. (A direct export of segment-definition.ts's checkers would make these one-liners.)

/** Not a segment id, so a `segment:` reference in the condition can never look like a self reference. */
const WRAPPER_ID = '';
const WRAPPER_EVENT = 'Scenario Event';

function throughSegmentParser(where: unknown, prefix: string, path: string, report: Report): void {
  const result = parseSegmentDefinition({ id: WRAPPER_ID, name: 'scenario', where });
  if (result.ok) return;
  for (const problem of result.problems) {
    if (problem.path === 'id') continue;
    report(rebase(problem.path, prefix, path), problem.message);
  }
}

function rebase(problemPath: string, prefix: string, path: string): string {
  if (problemPath === prefix) return path;
  if (problemPath.startsWith(`${prefix}.`) || problemPath.startsWith(`${prefix}[`)) return path + problemPath.slice(prefix.length);
  return path;
}

function checkSegmentCondition(condition: Record<string, unknown>, path: string, report: Report): void {
  throughSegmentParser(condition, 'where', path, report);
}

function checkFilters(filters: unknown, path: string, report: Report): void {
  throughSegmentParser({ performed: WRAPPER_EVENT, where: filters }, 'where.where', path, report);
}

/** The op and value of `input`, as in a property filter. */
function checkComparison(input: Record<string, unknown>, path: string, report: Report): void {
  const filter: Record<string, unknown> = { property: 'scenario' };
  if ('op' in input) filter.op = input.op;
  if ('value' in input) filter.value = input.value;
  throughSegmentParser({ performed: WRAPPER_EVENT, where: [filter] }, 'where.where[0]', path, report);
}

// ---------------------------------------------------------------------------------------------

function rejectUnknownFields(object: Record<string, unknown>, path: string, allowed: readonly string[], what: string, report: Report): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) report(child(path, key), `unknown field "${key}" in ${what}; allowed fields are ${list(allowed)}`);
  }
}

function checkNonEmptyString(value: unknown, path: string, what: string, report: Report): void {
  if (value === undefined) report(path, `missing field: expected ${what}`);
  else if (typeof value !== 'string' || value.trim() === '') report(path, `expected ${what}, got ${show(value)}`);
}

function checkEventName(value: unknown, path: string, report: Report): void {
  checkNonEmptyString(value, path, 'the event name, e.g. Order Completed', report);
}

function checkSegmentId(value: unknown, path: string, report: Report): void {
  if (!isId(value)) report(path, `${show(value)} is not a segment id: ${ID_RULE}`);
}

function checkTemplateId(value: unknown, path: string, report: Report): void {
  if (typeof value !== 'string' || !TEMPLATE_ID_PATTERN.test(value)) {
    report(path, `${show(value)} is not a template id (the template's file name without extension, e.g. cart-plain): ${ID_RULE}`);
  }
}

function checkDuration(value: unknown, path: string, report: Report): void {
  if (!isDuration(value)) report(path, new DurationError(value).message);
}

function checkTimeOfDay(value: unknown, path: string, report: Report): boolean {
  if (typeof value === 'string' && TIME_OF_DAY.test(value)) return true;
  if (typeof value === 'number') report(path, `expected a quoted "HH:MM" string (some YAML parsers read an unquoted 10:00 as a number), got ${show(value)}`);
  else report(path, `${show(value)} is not a time of day (HH:MM, 00:00-23:59)`);
  return false;
}

function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// What a valid definition refers to outside itself

export interface ScenarioReferences {
  /** Segment ids (trigger, branch conditions), with the path of each reference. */
  segments: Array<{ segment: string; path: string }>;
  /** Template ids of send steps and their variants, with the path of each reference. */
  templates: Array<{ template: string; path: string }>;
}

/**
 * The segments and templates a valid definition names, so the server can check they exist when it
 * is published (this package cannot see the workspace).
 */
export function scenarioReferences(definition: ScenarioDefinition): ScenarioReferences {
  const found: ScenarioReferences = { segments: [], templates: [] };
  const trigger = definition.trigger;
  if ('segment' in trigger) {
    const direction = 'entered' in trigger.segment ? 'entered' : 'exited';
    const segment = 'entered' in trigger.segment ? trigger.segment.entered : trigger.segment.exited;
    found.segments.push({ segment, path: `trigger.segment.${direction}` });
  }
  if ('schedule' in trigger) found.segments.push({ segment: trigger.schedule.segment, path: 'trigger.schedule.segment' });

  const visit = (condition: unknown, path: string): void => {
    if (!isPlainObject(condition)) return;
    if (typeof condition.segment === 'string') found.segments.push({ segment: condition.segment, path: `${path}.segment` });
    if (condition.not !== undefined) visit(condition.not, `${path}.not`);
    for (const key of ['all', 'any'] as const) {
      const items = condition[key];
      if (Array.isArray(items)) items.forEach((item, index) => visit(item, `${path}.${key}[${index}]`));
    }
  };
  definition.steps.forEach((step, index) => {
    const path = `steps[${index}]`;
    if ('branch' in step) step.branch.forEach((branchCase, i) => visit(branchCase.when, `${path}.branch[${i}].when`));
    if ('send' in step) {
      if (step.send.template !== undefined) found.templates.push({ template: step.send.template, path: `${path}.send.template` });
      step.send.variants?.forEach((variant, i) => found.templates.push({ template: variant.template, path: `${path}.send.variants[${i}].template` }));
    }
  });
  return found;
}
