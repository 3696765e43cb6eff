import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { MAX_VARIANT_WEIGHT, parseScenarioDefinition, scenarioReferences, type ScenarioProblem } from './parse-scenario';
import type { ScenarioDefinition } from './scenario-definition';
import { scenarioDefinitionSchema } from './scenario-schema';

const examples = join(__dirname, '../../../examples/scenarios');

/** The abandoned-cart scenario of the Scenario engine issue, which must be accepted verbatim. */
const ABANDONED_CART_YAML = `id: abandoned-cart
name: Abandoned cart
trigger:
  event: Checkout Started
entry:
  reenter: after 7d
exitOn:
  - event: Order Completed
goal:
  event: Order Completed
  within: 72h
steps:
  - id: wait-1h
    wait: 1h
  - id: reminder
    send:
      channel: email
      holdout: 10
      variants:
        - key: plain
          weight: 50
          subject: "You left something behind, {{ user.first_name | default: 'friend' }}"
          template: cart-plain
        - key: discount
          weight: 50
          subject: "10% off what you left in your cart"
          template: cart-discount
  - id: wait-purchase
    waitFor:
      event: Order Completed
      timeout: 24h
    onEvent: done
    onTimeout: sms-nudge
  - id: sms-nudge
    send:
      channel: sms
      template: cart-sms
  - id: done
    exit: true
`;

/** The same, as a YAML parser returns it. */
const abandonedCart = {
  id: 'abandoned-cart',
  name: 'Abandoned cart',
  trigger: { event: 'Checkout Started' },
  entry: { reenter: 'after 7d' },
  exitOn: [{ event: 'Order Completed' }],
  goal: { event: 'Order Completed', within: '72h' },
  steps: [
    { id: 'wait-1h', wait: '1h' },
    {
      id: 'reminder',
      send: {
        channel: 'email',
        holdout: 10,
        variants: [
          { key: 'plain', weight: 50, subject: "You left something behind, {{ user.first_name | default: 'friend' }}", template: 'cart-plain' },
          { key: 'discount', weight: 50, subject: '10% off what you left in your cart', template: 'cart-discount' },
        ],
      },
    },
    { id: 'wait-purchase', waitFor: { event: 'Order Completed', timeout: '24h' }, onEvent: 'done', onTimeout: 'sms-nudge' },
    { id: 'sms-nudge', send: { channel: 'sms', template: 'cart-sms' } },
    { id: 'done', exit: true },
  ],
};

const problemsOf = (input: unknown): ScenarioProblem[] => {
  const result = parseScenarioDefinition(input);
  if (result.ok) throw new Error('expected problems');
  return result.problems;
};
/** A minimal valid scenario with these steps (and trigger). */
const withSteps = (steps: unknown[], trigger: unknown = { event: 'Signed Up' }) => ({ id: 's', name: 'S', trigger, steps });
const send = { id: 'hello', send: { channel: 'email', template: 'hello' } };
const withSend = (body: Record<string, unknown>) => withSteps([{ id: 'hello', send: { channel: 'email', ...body } }]);
const withTrigger = (trigger: unknown) => withSteps([send], trigger);
const withGoal = (definition: Record<string, unknown>) => ({ ...definition, goal: { event: 'Order Completed', within: '3d' } });
const withTop = (fields: Record<string, unknown>) => ({ ...withSteps([send]), ...fields });

describe('parseScenarioDefinition', () => {
  it('accepts the abandoned-cart scenario of the issue verbatim and returns it unchanged', () => {
    expect(readFileSync(join(examples, 'abandoned-cart.yaml'), 'utf8')).toBe(ABANDONED_CART_YAML);
    const parsed = parse(ABANDONED_CART_YAML);
    expect(parsed).toEqual(abandonedCart);
    const result = parseScenarioDefinition(parsed);
    expect(result).toEqual({ ok: true, definition: abandonedCart });
    if (result.ok) expect(result.definition).not.toBe(parsed);
  });

  const files = readdirSync(examples).filter((file) => file.endsWith('.yaml'));
  it('has the seven example scenarios', () => {
    expect(files.sort()).toEqual([
      'abandoned-cart.yaml',
      'back-in-stock.yaml',
      'onboarding.yaml',
      'post-purchase.yaml',
      'reactivation.yaml',
      'service-notification.yaml',
      'welcome-series.yaml',
    ]);
  });

  it.each(files)('accepts examples/scenarios/%s (valid and lint-clean, id = file name)', (file) => {
    const input = parse(readFileSync(join(examples, file), 'utf8'));
    const result = parseScenarioDefinition(input);
    expect(result).toEqual({ ok: true, definition: input });
    expect((input as ScenarioDefinition).id).toBe(file.replace(/\.yaml$/, ''));
    expect(scenarioDefinitionSchema.safeParse(input).success).toBe(true);
  });

  it('accepts every trigger, step kind and option', () => {
    const everything = {
      id: 'everything',
      name: 'Everything',
      description: 'all the language',
      trigger: { event: 'Order Completed', where: [{ property: 'total', op: 'gte', value: 100 }, { property: 'coupon', op: 'exists', value: false }] },
      entry: { reenter: 'always', concurrent: true },
      exitOn: [{ event: 'Refund Issued' }, { event: 'Account Deleted', where: [{ property: 'reason', op: 'in', value: ['gdpr', 'user'] }] }],
      goal: { event: 'Order Completed', where: [{ property: 'total', op: 'gt', value: 0 }], within: '2w' },
      migrate: true,
      steps: [
        { id: 'receipt', send: { channel: 'email', template: 'receipt', subject: 'Your order', transactional: true, quietHours: 'ignore' } },
        { id: 'vip', branch: [{ when: { all: [{ trigger: 'total', op: 'gte', value: 500 }, { not: { segment: 'churned' } }] }, next: 'notify' }], otherwise: 'later' },
        { id: 'notify', webhook: { url: 'https://crm.example.com/vip/{{ user.id }}', method: 'PUT', headers: { Authorization: 'Bearer x' }, body: { total: '{{ trigger.total }}' }, retries: 3 } },
        { id: 'later', waitUntil: { time: '09:30', days: ['sat', 'sun'] } },
        {
          id: 'ab',
          send: {
            channel: 'push',
            subject: 'Hi',
            holdout: 0,
            control: 'b',
            autoWinner: { minExposures: 500, alpha: 0.01 },
            variants: [
              { key: 'a', weight: 1, template: 'a' },
              { key: 'b', weight: 2.5, template: 'b', subject: 'Hello' },
            ],
          },
        },
        { id: 'ping', webhook: { url: 'http://localhost:8080/hook', method: 'GET' } },
        { id: 'wait', wait: '30s' },
        { id: 'review', waitFor: { event: 'Review Submitted', where: [{ property: 'stars', op: 'gte', value: 4 }], matchTrigger: ['order_id', 'shop.id'], timeout: '7d' }, onEvent: 'end', onTimeout: 'last' },
        { id: 'last', send: { channel: 'in_app', template: 'last' }, next: 'end' },
        { id: 'end', exit: true },
      ],
    };
    expect(parseScenarioDefinition(everything)).toEqual({ ok: true, definition: everything });
    expect(scenarioDefinitionSchema.safeParse(everything).success).toBe(true);

    for (const trigger of [
      { segment: { entered: 'inactive-14d' } },
      { segment: { exited: 'trial' } },
      { schedule: { segment: 'newsletter', every: '1w', localTime: '08:00' } },
      { schedule: { segment: 'newsletter', at: '2026-03-01', localTime: '08:00' } },
      { schedule: { segment: 'newsletter', at: '2026-03-01T08:00:00Z' } },
      { schedule: { segment: 'newsletter', every: '6h' } },
      { api: true },
    ]) {
      expect(parseScenarioDefinition(withTrigger(trigger)).ok).toBe(true);
    }
    for (const reenter of ['once', 'always', 'after 30m']) expect(parseScenarioDefinition(withTop({ entry: { reenter } })).ok).toBe(true);
  });

  it('reads YAML dates (Date objects) as ISO strings', () => {
    const result = parseScenarioDefinition(withTrigger({ schedule: { segment: 'newsletter', at: new Date('2026-03-01T10:30:00Z') } }));
    expect(result.ok && result.definition.trigger).toEqual({ schedule: { segment: 'newsletter', at: '2026-03-01T10:30:00.000Z' } });
  });

  describe('names the path of each problem', () => {
    it.each<[string, unknown, ScenarioProblem[]]>([
      // definition
      ['not an object', 'id: x', [{ path: '', message: 'a scenario definition is an object with id, name, trigger and steps (and optionally description, entry, exitOn, goal, migrate)' }]],
      [
        'an unknown top-level field',
        withTop({ version: 2 }),
        [{ path: 'version', message: 'unknown field "version" in a scenario definition; allowed fields are id, name, description, trigger, entry, exitOn, goal, steps, migrate' }],
      ],
      [
        'a bad scenario id',
        { ...withSteps([send]), id: 'Abandoned Cart' },
        [{ path: 'id', message: '"Abandoned Cart" is not a scenario id: use 1 to 64 lowercase letters, digits, "-" or "_", starting with a letter or digit' }],
      ],
      ['migrate not a boolean', withTop({ migrate: 'yes' }), [{ path: 'migrate', message: 'must be true or false, got "yes"' }]],
      // trigger
      [
        'two triggers',
        withTrigger({ event: 'Signed Up', api: true }),
        [{ path: 'trigger', message: 'a trigger has exactly one of event, segment, schedule, api, found event and api; a scenario has one trigger' }],
      ],
      ['no trigger kind', withTrigger({ name: 'x' }), [{ path: 'trigger', message: 'a trigger has one of event, segment, schedule, api (found name)' }]],
      [
        'a trigger filter with an unknown operator',
        withTrigger({ event: 'Product Back In Stock', where: [{ property: 'quantity', op: '>', value: 0 }] }),
        [{ path: 'trigger.where[0].op', message: 'unknown operator ">"; use one of eq, neq, gt, gte, lt, lte, contains, exists, in' }],
      ],
      [
        'trigger filters given as an object',
        withTrigger({ event: 'X', where: { property: 'a', op: 'exists' } }),
        [{ path: 'trigger.where', message: 'where takes a list of property filters ({ property, op, value }), got {"property":"a","op":"exists"}' }],
      ],
      [
        'an unknown field in a trigger filter',
        withTrigger({ event: 'X', where: [{ property: 'a', op: 'exists', note: 1 }] }),
        [{ path: 'trigger.where[0].note', message: 'unknown field "note" in a property filter; allowed fields are property, op, value' }],
      ],
      ['an empty event name', withTrigger({ event: ' ' }), [{ path: 'trigger.event', message: 'expected the event name, e.g. Order Completed, got " "' }]],
      [
        'a segment trigger given a string',
        withTrigger({ segment: 'inactive-14d' }),
        [{ path: 'trigger.segment', message: 'segment takes { entered: <segment id> } or { exited: <segment id> }, got "inactive-14d"' }],
      ],
      [
        'a bad segment id',
        withTrigger({ segment: { entered: 'Inactive 14d' } }),
        [{ path: 'trigger.segment.entered', message: '"Inactive 14d" is not a segment id: use 1 to 64 lowercase letters, digits, "-" or "_", starting with a letter or digit' }],
      ],
      ['api: false', withTrigger({ api: false }), [{ path: 'trigger.api', message: 'an api trigger is written api: true, got false' }]],
      [
        'a schedule with both at and every',
        withTrigger({ schedule: { segment: 'all', at: '2026-03-01', every: '1d' } }),
        [{ path: 'trigger.schedule', message: 'a schedule has at (one-off) or every (recurring), not both' }],
      ],
      [
        'a schedule with neither',
        withTrigger({ schedule: { segment: 'all' } }),
        [{ path: 'trigger.schedule', message: 'a schedule needs at (an ISO date, one-off) or every (a duration, recurring)' }],
      ],
      [
        'a schedule at a time of day every 6 hours',
        withTrigger({ schedule: { segment: 'all', every: '6h', localTime: '08:00' } }),
        [{ path: 'trigger.schedule.every', message: 'with localTime, every is a number of days or weeks (e.g. 1d, 1w), got "6h"' }],
      ],
      [
        'a one-off schedule with two times of day',
        withTrigger({ schedule: { segment: 'all', at: '2026-03-01T10:00', localTime: '08:00' } }),
        [{ path: 'trigger.schedule.at', message: 'with localTime, at is a date such as 2026-03-01 (the time of day is localTime), got "2026-03-01T10:00"' }],
      ],
      [
        'a schedule at an unquoted time',
        withTrigger({ schedule: { segment: 'all', every: '1d', localTime: 480 } }),
        [{ path: 'trigger.schedule.localTime', message: 'expected a quoted "HH:MM" string (some YAML parsers read an unquoted 10:00 as a number), got 480' }],
      ],
      [
        'a schedule at a bad date',
        withTrigger({ schedule: { segment: 'all', at: 'tomorrow' } }),
        [{ path: 'trigger.schedule.at', message: '"tomorrow" is not an ISO 8601 date or date-time, e.g. 2026-03-01T10:00' }],
      ],
      // entry, exitOn, goal
      [
        'reenter with a bad duration',
        withTop({ entry: { reenter: 'after 7 days' } }),
        [{ path: 'entry.reenter', message: '"7 days" is not a duration: use a number and one of s, m, h, d, w, e.g. 7d (in "after 7 days")' }],
      ],
      ['reenter neither', withTop({ entry: { reenter: 'twice' } }), [{ path: 'entry.reenter', message: '"twice" is not an entry rule: use once, always or after <duration> (e.g. after 7d)' }]],
      [
        'concurrent with reenter once',
        withTop({ entry: { concurrent: true } }),
        [{ path: 'entry.concurrent', message: 'concurrent has no effect with reenter: once (the default), where a user enrols only once; set reenter to always or after <duration>' }],
      ],
      ['an unknown entry field', withTop({ entry: { reentry: 'always' } }), [{ path: 'entry.reentry', message: 'unknown field "reentry" in entry; allowed fields are reenter, concurrent' }]],
      ['an empty exitOn', withTop({ exitOn: [] }), [{ path: 'exitOn', message: 'exitOn needs at least one event (or leave it out)' }]],
      ['exitOn given a string', withTop({ exitOn: 'Order Completed' }), [{ path: 'exitOn', message: 'exitOn takes a list of events, e.g. [{ event: Order Completed }]; got "Order Completed"' }]],
      [
        'an exitOn event without a name',
        withTop({ exitOn: [{ event: 'A' }, { where: [] }] }),
        [{ path: 'exitOn[1].event', message: 'missing field: expected the event name, e.g. Order Completed' }],
      ],
      ['a goal without a window', withTop({ goal: { event: 'Order Completed' } }), [{ path: 'goal.within', message: 'missing field: a goal counts within a window after enrolment, e.g. within: 72h' }]],
      [
        'a goal with a bad window',
        withTop({ goal: { event: 'Order Completed', within: '3 days' } }),
        [{ path: 'goal.within', message: '"3 days" is not a duration: use a number and one of s, m, h, d, w, e.g. 7d' }],
      ],
      // steps
      ['no steps', withSteps([]), [{ path: 'steps', message: 'a scenario needs at least one step' }]],
      [
        'a step without an id',
        withSteps([{ wait: '1h' }, send]),
        [{ path: 'steps[0].id', message: 'missing field: every step has an id, e.g. id: wait-1h' }],
      ],
      [
        'a duplicate step id',
        withSteps([{ id: 'a', wait: '1h' }, { id: 'a', wait: '2h' }, send]),
        [{ path: 'steps[1].id', message: 'step id "a" is already used by steps[0]' }],
      ],
      [
        'a step with two kinds',
        withSteps([{ id: 'a', wait: '1h', send: { channel: 'email', template: 'x' } }]),
        [{ path: 'steps[0]', message: 'a step has exactly one of send, wait, waitUntil, waitFor, branch, webhook, exit, found send and wait; make them separate steps' }],
      ],
      ['a step with no kind', withSteps([{ id: 'a', delay: '1h' }]), [{ path: 'steps[0]', message: 'a step has one of send, wait, waitUntil, waitFor, branch, webhook, exit (found delay)' }]],
      [
        'an unknown field in a step',
        withSteps([{ id: 'a', wait: '1h', onTimeout: 'b' }, send]),
        [{ path: 'steps[0].onTimeout', message: 'unknown field "onTimeout" in a wait step; allowed fields are id, next, wait' }],
      ],
      ['a bad wait', withSteps([{ id: 'a', wait: '1 hour' }, send]), [{ path: 'steps[0].wait', message: '"1 hour" is not a duration: use a number and one of s, m, h, d, w, e.g. 7d' }]],
      [
        'next to a missing step',
        withSteps([{ id: 'a', wait: '1h', next: 'nowhere' }, send]),
        [{ path: 'steps[0].next', message: 'no step has id "nowhere"; the steps are a, hello' }],
      ],
      ['exit: false', withSteps([send, { id: 'end', exit: false }]), [{ path: 'steps[1].exit', message: 'an exit step is written exit: true, got false' }]],
      ['next on an exit', withSteps([{ id: 'end', exit: true, next: 'end' }]), [{ path: 'steps[0].next', message: 'an exit step ends the enrolment; it has no next' }]],
      // send
      ['an unknown channel', withSend({ channel: 'mail', template: 't' }), [{ path: 'steps[0].send.channel', message: 'unknown channel "mail"; use one of email, sms, whatsapp, telegram, push, in_app' }]],
      [
        'template and variants',
        withSend({ template: 't', variants: [{ key: 'a', weight: 1, template: 'a' }, { key: 'b', weight: 1, template: 'b' }] }),
        [{ path: 'steps[0].send', message: 'a send step has template (one message) or variants (an A/B test), not both; put each template in a variant' }],
      ],
      [
        'a template path',
        withSend({ template: '../secrets' }),
        [{ path: 'steps[0].send.template', message: '"../secrets" is not a template id (the template\'s file name without extension, e.g. cart-plain): use 1 to 64 lowercase letters, digits, "-" or "_", starting with a letter or digit' }],
      ],
      [
        'a single variant',
        withSend({ variants: [{ key: 'a', weight: 1, template: 'a' }] }),
        [{ path: 'steps[0].send.variants', message: 'an A/B test needs at least two variants; for a single message use template (and holdout to measure it)' }],
      ],
      [
        'duplicate variant keys',
        withSend({ variants: [{ key: 'a', weight: 1, template: 'a' }, { key: 'a', weight: 1, template: 'b' }] }),
        [{ path: 'steps[0].send.variants[1].key', message: 'variant key "a" is already used by steps[0].send.variants[0]' }],
      ],
      [
        'a variant keyed holdout',
        withSend({ variants: [{ key: 'a', weight: 1, template: 'a' }, { key: 'holdout', weight: 1, template: 'b' }] }),
        [{ path: 'steps[0].send.variants[1].key', message: 'the key holdout is reserved for the enrolments held out; name the variant otherwise' }],
      ],
      [
        'a zero weight',
        withSend({ variants: [{ key: 'a', weight: 0, template: 'a' }, { key: 'b', weight: 1, template: 'b' }] }),
        [{ path: 'steps[0].send.variants[0].weight', message: 'a weight is a number > 0, got 0' }],
      ],
      [
        'weights whose sum overflows to Infinity',
        withSend({ variants: [{ key: 'a', weight: 1e308, template: 'a' }, { key: 'b', weight: 1e308, template: 'b' }] }),
        [
          { path: 'steps[0].send.variants[0].weight', message: 'a weight is at most 1000000 (weights are relative: 50 and 50 split evenly), got 1e+308' },
          { path: 'steps[0].send.variants[1].weight', message: 'a weight is at most 1000000 (weights are relative: 50 and 50 split evenly), got 1e+308' },
        ],
      ],
      [
        'a weight just above the largest',
        withSend({ variants: [{ key: 'a', weight: 1_000_000.5, template: 'a' }, { key: 'b', weight: 1, template: 'b' }] }),
        [{ path: 'steps[0].send.variants[0].weight', message: 'a weight is at most 1000000 (weights are relative: 50 and 50 split evenly), got 1000000.5' }],
      ],
      [
        'a variant without a weight',
        withSend({ variants: [{ key: 'a', template: 'a' }, { key: 'b', weight: 1, template: 'b' }] }),
        [{ path: 'steps[0].send.variants[0].weight', message: 'missing field: a variant has a weight > 0 (weights are relative: 50 and 50 split evenly)' }],
      ],
      [
        'an unknown field in a variant',
        withSend({ variants: [{ key: 'a', weight: 1, template: 'a', body: 'x' }, { key: 'b', weight: 1, template: 'b' }] }),
        [{ path: 'steps[0].send.variants[0].body', message: 'unknown field "body" in a variant; allowed fields are key, weight, template, subject' }],
      ],
      [
        'a holdout of 100',
        withSend({ template: 't', holdout: 100 }),
        [{ path: 'steps[0].send.holdout', message: 'holdout is the percentage of enrolments that get no message, a number from 0 to less than 100; got 100' }],
      ],
      [
        'a negative holdout',
        withSend({ template: 't', holdout: -5 }),
        [{ path: 'steps[0].send.holdout', message: 'holdout is the percentage of enrolments that get no message, a number from 0 to less than 100; got -5' }],
      ],
      [
        'a control that is not a variant',
        withSend({ control: 'c', variants: [{ key: 'a', weight: 1, template: 'a' }, { key: 'b', weight: 1, template: 'b' }] }),
        [{ path: 'steps[0].send.control', message: '"c" is not a variant of this step; the variants are a, b' }],
      ],
      ['a control without variants', withSend({ template: 't', control: 'a' }), [{ path: 'steps[0].send.control', message: 'control names the control variant; this step has no variants' }]],
      [
        'an autoWinner that is not an object',
        withGoal(withSend({ variants: [{ key: 'a', weight: 1, template: 'a' }, { key: 'b', weight: 1, template: 'b' }], autoWinner: true })),
        [{ path: 'steps[0].send.autoWinner', message: 'autoWinner is an object { minExposures, alpha }, e.g. { minExposures: 1000, alpha: 0.05 }; got true' }],
      ],
      [
        'an autoWinner without variants, minExposures, or a sane alpha',
        withGoal(withSend({ template: 't', autoWinner: { alpha: 0.5, min: 3 } })),
        [
          { path: 'steps[0].send.autoWinner', message: 'autoWinner picks one of the variants; this step has no variants' },
          { path: 'steps[0].send.autoWinner.min', message: 'unknown field "min" in autoWinner; allowed fields are minExposures, alpha' },
          { path: 'steps[0].send.autoWinner.minExposures', message: 'missing field: the exposures every variant needs before a winner is declared, e.g. minExposures: 1000' },
          { path: 'steps[0].send.autoWinner.alpha', message: 'alpha is the significance level, a number above 0 and at most 0.2 (0.05 is usual); got 0.5' },
        ],
      ],
      [
        'a fractional minExposures',
        withGoal(withSend({ variants: [{ key: 'a', weight: 1, template: 'a' }, { key: 'b', weight: 1, template: 'b' }], autoWinner: { minExposures: 2.5 } })),
        [{ path: 'steps[0].send.autoWinner.minExposures', message: 'minExposures is a whole number from 1 to 1000000000, got 2.5' }],
      ],
      [
        'an autoWinner in a scenario without a goal',
        withSend({ variants: [{ key: 'a', weight: 1, template: 'a' }, { key: 'b', weight: 1, template: 'b' }], autoWinner: { minExposures: 100 } }),
        [
          {
            path: 'steps[0].send.autoWinner',
            rule: 'auto-winner-without-goal',
            message:
              'step "hello" picks a winner by conversions, but the scenario has no goal; add goal: { event, within } (what counts as a conversion) or remove autoWinner',
          },
        ],
      ],
      [
        'a marketing message that ignores quiet hours',
        withSend({ template: 't', quietHours: 'ignore' }),
        [{ path: 'steps[0].send.quietHours', message: 'only transactional messages may ignore quiet hours; add transactional: true if this is a service message' }],
      ],
      [
        'a held-out transactional message',
        withSend({ template: 't', transactional: true, holdout: 10 }),
        [{ path: 'steps[0].send.holdout', message: 'a transactional message (a receipt, a password reset) is never held out; remove holdout or transactional' }],
      ],
      // waitUntil
      [
        'an unquoted time of day',
        withSteps([{ id: 'a', waitUntil: { time: 600 } }, send]),
        [{ path: 'steps[0].waitUntil.time', message: 'expected a quoted "HH:MM" string (some YAML parsers read an unquoted 10:00 as a number), got 600' }],
      ],
      ['a time of 24:00', withSteps([{ id: 'a', waitUntil: { time: '24:00' } }, send]), [{ path: 'steps[0].waitUntil.time', message: '"24:00" is not a time of day (HH:MM, 00:00-23:59)' }]],
      [
        'a bad weekday',
        withSteps([{ id: 'a', waitUntil: { time: '10:00', days: ['mon', 'Tuesday', 'mon'] } }, send]),
        [
          { path: 'steps[0].waitUntil.days[1]', message: '"Tuesday" is not a weekday; use mon, tue, wed, thu, fri, sat, sun' },
          { path: 'steps[0].waitUntil.days[2]', message: 'mon is listed twice' },
        ],
      ],
      // waitFor
      [
        'a waitFor with next instead of onEvent and onTimeout',
        withSteps([{ id: 'a', waitFor: { event: 'X', timeout: '1d' }, next: 'hello' }, send]),
        [
          { path: 'steps[0].next', message: 'a waitFor step goes on at onEvent or onTimeout, not next' },
          { path: 'steps[0].onEvent', message: 'missing field: the id of the step to go to when the event arrives' },
          { path: 'steps[0].onTimeout', message: 'missing field: the id of the step to go to when the timeout passes first' },
        ],
      ],
      [
        'a bad timeout',
        withSteps([{ id: 'a', waitFor: { event: 'X', timeout: 'forever' }, onEvent: 'hello', onTimeout: 'hello' }, send]),
        [{ path: 'steps[0].waitFor.timeout', message: '"forever" is not a duration: use a number and one of s, m, h, d, w, e.g. 7d' }],
      ],
      [
        'matchTrigger given a string',
        withSteps([{ id: 'a', waitFor: { event: 'X', matchTrigger: 'cart_id', timeout: '1d' }, onEvent: 'hello', onTimeout: 'hello' }, send]),
        [{ path: 'steps[0].waitFor.matchTrigger', message: 'matchTrigger is a list of property names, e.g. [cart_id]; got "cart_id"' }],
      ],
      [
        'matchTrigger with a segment trigger',
        withSteps([{ id: 'a', waitFor: { event: 'X', matchTrigger: ['cart_id'], timeout: '1d' }, onEvent: 'hello', onTimeout: 'hello' }, send], { segment: { entered: 'x' } }),
        [{ path: 'steps[0].waitFor.matchTrigger', message: 'matchTrigger compares with the properties of the trigger event, and a segment trigger has none; use an event or api trigger' }],
      ],
      [
        'onTimeout to a missing step',
        withSteps([{ id: 'a', waitFor: { event: 'X', timeout: '1d' }, onEvent: 'hello', onTimeout: 'Nudge' }, send]),
        [{ path: 'steps[0].onTimeout', message: '"Nudge" is not a step id: name the id of a step of this scenario' }],
      ],
      // branch
      [
        'a branch with next',
        withSteps([{ id: 'a', branch: [{ when: { subscribed: 'sms' }, next: 'hello' }], otherwise: 'hello', next: 'hello' }, send]),
        [{ path: 'steps[0].next', message: "a branch goes on at the matching case's next or at otherwise, not next" }],
      ],
      [
        'a branch without otherwise',
        withSteps([{ id: 'a', branch: [{ when: { subscribed: 'sms' }, next: 'hello' }] }, send]),
        [{ path: 'steps[0].otherwise', message: 'missing field: the id of the step to go to when no case matches' }],
      ],
      ['an empty branch', withSteps([{ id: 'a', branch: [], otherwise: 'hello' }, send]), [{ path: 'steps[0].branch', message: 'a branch needs at least one case { when, next }' }]],
      [
        'a branch case to a missing step',
        withSteps([{ id: 'a', branch: [{ when: { subscribed: 'sms' }, next: 'sms' }], otherwise: 'hello' }, send]),
        [{ path: 'steps[0].branch[0].next', message: 'no step has id "sms"; the steps are a, hello' }],
      ],
      [
        'a bad segment condition deep in a branch',
        withSteps([{ id: 'a', branch: [{ when: { all: [{ trait: 'plan', op: 'eq', value: 'pro' }, { not: { performed: 'X', within: '7x' } }] }, next: 'hello' }], otherwise: 'hello' }, send]),
        [{ path: 'steps[0].branch[0].when.all[1].not.within', message: '"7x" is not a duration: use a number and one of s, m, h, d, w, e.g. 7d' }],
      ],
      [
        'a trigger condition with a bad value',
        withSteps([{ id: 'a', branch: [{ when: { any: [{ trigger: 'total', op: 'gt', value: 'lots' }] }, next: 'hello' }], otherwise: 'hello' }, send]),
        [{ path: 'steps[0].branch[0].when.any[0].value', message: '"lots" is neither a number nor an ISO 8601 date; gt compares numbers and dates (also { ago: 30d } or { in: 3d })' }],
      ],
      [
        'a trigger condition without an operator',
        withSteps([{ id: 'a', branch: [{ when: { trigger: 'total', value: 1 }, next: 'hello' }], otherwise: 'hello' }, send]),
        [{ path: 'steps[0].branch[0].when.op', message: 'missing field: use one of eq, neq, gt, gte, lt, lte, contains, exists, in' }],
      ],
      [
        'a trigger condition with a schedule trigger',
        withSteps([{ id: 'a', branch: [{ when: { trigger: 'total', op: 'exists' }, next: 'hello' }], otherwise: 'hello' }, send], { schedule: { segment: 'all', every: '1d' } }),
        [{ path: 'steps[0].branch[0].when.trigger', message: 'a trigger condition compares a property of the trigger event, and a schedule trigger has none; use an event or api trigger' }],
      ],
      [
        'a condition with two shapes',
        withSteps([{ id: 'a', branch: [{ when: { trigger: 'x', op: 'exists', segment: 'vip' }, next: 'hello' }], otherwise: 'hello' }, send]),
        [{ path: 'steps[0].branch[0].when', message: 'a condition has exactly one of trait, performed, not, all, any, segment, subscribed, trigger, found segment and trigger; combine them under all: or any:' }],
      ],
      [
        'a comparison without a subject',
        withSteps([{ id: 'a', branch: [{ when: { op: 'eq', value: 'pro' }, next: 'hello' }], otherwise: 'hello' }, send]),
        [{ path: 'steps[0].branch[0].when', message: 'missing field: a comparison names its subject, trait: <trait> (the user) or trigger: <property> (the trigger event)' }],
      ],
      [
        'an unknown field in a trigger condition',
        withSteps([{ id: 'a', branch: [{ when: { trigger: 'x', op: 'exists', within: '1d' }, next: 'hello' }], otherwise: 'hello' }, send]),
        [{ path: 'steps[0].branch[0].when.within', message: 'unknown field "within" in a trigger condition; allowed fields are trigger, op, value' }],
      ],
      [
        'a segment condition that would be a self reference in a segment',
        withSteps([{ id: 'a', branch: [{ when: { segment: 'Bad Id' }, next: 'hello' }], otherwise: 'hello' }, send]),
        [{ path: 'steps[0].branch[0].when.segment', message: '"Bad Id" is not a segment id: use 1 to 64 lowercase letters, digits, "-" or "_", starting with a letter or digit' }],
      ],
      // webhook
      ['a webhook to ftp', withSteps([{ id: 'a', webhook: { url: 'ftp://example.com/x' } }, send]), [{ path: 'steps[0].webhook.url', message: '"ftp://example.com/x" is not an http:// or https:// URL' }]],
      [
        'a webhook with a bad method, header and retries',
        withSteps([{ id: 'a', webhook: { url: 'https://example.com', method: 'PATCH', headers: { 'X Bad': 'a', 'X-Count': 1 }, retries: 11 } }, send]),
        [
          { path: 'steps[0].webhook.method', message: 'method is one of POST, PUT, GET, got "PATCH"' },
          { path: 'steps[0].webhook.headers.X Bad', message: '"X Bad" is not a valid HTTP header name' },
          { path: 'steps[0].webhook.headers.X-Count', message: 'a header value is a string, got 1' },
          { path: 'steps[0].webhook.retries', message: 'retries is a whole number from 0 to 10, got 11' },
        ],
      ],
      ['a GET with a body', withSteps([{ id: 'a', webhook: { url: 'https://example.com', method: 'GET', body: {} } }, send]), [{ path: 'steps[0].webhook.body', message: 'a GET request has no body; use POST or PUT' }]],
    ])('%s', (_, input, expected) => {
      expect(problemsOf(input)).toEqual(expected);
    });
  });

  it('accepts weights up to MAX_VARIANT_WEIGHT, whose sum stays finite', () => {
    expect(MAX_VARIANT_WEIGHT).toBe(1_000_000);
    const input = withSend({ variants: [{ key: 'a', weight: MAX_VARIANT_WEIGHT, template: 'a' }, { key: 'b', weight: 0.5, template: 'b' }] });
    expect(parseScenarioDefinition(input)).toMatchObject({ ok: true });
  });

  it('returns every problem, not just the first', () => {
    const problems = problemsOf({
      id: 'abandoned-cart',
      name: '',
      trigger: { event: 'Checkout Started', where: [{ property: 'total', op: 'gt' }] },
      entry: { reenter: 'sometimes' },
      goal: { event: 'Order Completed', within: '72' },
      steps: [
        { id: 'wait-1h', wait: '1h' },
        { id: 'reminder', send: { channel: 'email', holdout: 110, variants: [{ key: 'plain', weight: -1, template: 'cart-plain' }, { key: 'Discount', weight: 50, template: 'cart-discount' }] } },
        { id: 'wait-purchase', waitFor: { event: 'Order Completed', timeout: '24h' }, onEvent: 'done', onTimeout: 'sms' },
        { id: 'done', exit: true },
      ],
    });
    expect(problems.map((problem) => problem.path)).toEqual([
      'name',
      'trigger.where[0].value',
      'entry.reenter',
      'goal.within',
      'steps[1].send.variants[0].weight',
      'steps[1].send.variants[1].key',
      'steps[1].send.holdout',
      'steps[2].onTimeout',
    ]);
  });

  it('reports what the linter finds, with its rule, once the shape is right', () => {
    expect(problemsOf(withSteps([{ id: 'a', waitFor: { event: 'X' }, onEvent: 'b', onTimeout: 'b' }, { id: 'b', send: { channel: 'email' } }]))).toEqual([
      {
        path: 'steps[0].waitFor.timeout',
        rule: 'waitfor-without-timeout',
        message:
          'step "a" waits for "X" with no timeout: users who never do it would wait forever; add a timeout (e.g. timeout: 7d) and say where they go in onTimeout',
      },
      { path: 'steps[1].send', rule: 'send-without-template', message: 'step "b" sends nothing: give it a template (one message) or variants (an A/B test, each with its template)' },
    ]);
  });

  it('rejects nesting deeper than 32 levels instead of recursing without bound', () => {
    let when: unknown = { trigger: 'x', op: 'exists' };
    for (let i = 0; i < 40; i++) when = { not: when };
    const problems = problemsOf(withSteps([{ id: 'a', branch: [{ when, next: 'hello' }], otherwise: 'hello' }, send]));
    expect(problems).toEqual([{ path: `steps[0].branch[0].when${'.not'.repeat(32)}`, message: 'conditions nest deeper than 32 levels' }]);
  });

  it('does not let a __proto__ key through', () => {
    const input = JSON.parse('{"id":"s","name":"S","trigger":{"api":true,"__proto__":{"polluted":true}},"steps":[{"id":"a","exit":true}]}');
    expect(problemsOf(input)).toEqual([{ path: 'trigger.__proto__', message: 'unknown field "__proto__" in an api trigger; allowed fields are api' }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('scenarioReferences', () => {
  it('lists the segments and templates a definition names, with their paths', () => {
    const result = parseScenarioDefinition(
      withSteps(
        [
          { id: 'a', branch: [{ when: { any: [{ segment: 'vip' }, { not: { segment: 'churned' } }] }, next: 'b' }], otherwise: 'b' },
          { id: 'b', send: { channel: 'email', variants: [{ key: 'x', weight: 1, template: 'tx' }, { key: 'y', weight: 1, template: 'ty' }] } },
          { id: 'c', send: { channel: 'sms', template: 'tc' } },
        ],
        { segment: { exited: 'trial' } },
      ),
    );
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(scenarioReferences(result.definition)).toEqual({
      segments: [
        { segment: 'trial', path: 'trigger.segment.exited' },
        { segment: 'vip', path: 'steps[0].branch[0].when.any[0].segment' },
        { segment: 'churned', path: 'steps[0].branch[0].when.any[1].not.segment' },
      ],
      templates: [
        { template: 'tx', path: 'steps[1].send.variants[0].template' },
        { template: 'ty', path: 'steps[1].send.variants[1].template' },
        { template: 'tc', path: 'steps[2].send.template' },
      ],
    });
  });
});

describe('the Zod schema behind docs/scenario.schema.json', () => {
  // Shapes parseScenarioDefinition accepts or rejects above; the schema must agree.
  const accepted: unknown[] = [
    abandonedCart,
    withTrigger({ segment: { entered: 'inactive-14d' } }),
    withTrigger({ schedule: { segment: 'all', every: '1d', localTime: '10:00' } }),
    withTrigger({ api: true }),
    withTop({ entry: { reenter: 'after 30m', concurrent: true } }),
    withSteps([{ id: 'a', branch: [{ when: { all: [{ trigger: 'total', op: 'gte', value: 5 }, { segment: 'vip' }] }, next: 'hello' }], otherwise: 'hello' }, send]),
    withSteps([{ id: 'a', webhook: { url: 'https://example.com/x', headers: { 'X-Key': 'k' }, retries: 0 } }, send]),
  ];
  const rejected: unknown[] = [
    withTop({ version: 2 }),
    { ...withSteps([send]), id: 'Abandoned Cart' },
    withTrigger({ event: 'Signed Up', api: true }),
    withTrigger({ segment: 'inactive-14d' }),
    withTrigger({ api: false }),
    withTrigger({ schedule: { segment: 'all', at: '2026-03-01', every: '1d' } }),
    withTrigger({ event: 'X', where: [{ property: 'a', op: '>', value: 0 }] }),
    withTop({ entry: { reenter: 'after 7 days' } }),
    withTop({ entry: { reenter: 'twice' } }),
    withTop({ exitOn: [] }),
    withTop({ goal: { event: 'Order Completed' } }),
    withSteps([]),
    withSteps([{ id: 'a', wait: '1h', send: { channel: 'email', template: 'x' } }]),
    withSteps([{ id: 'a', wait: '1 hour' }, send]),
    withSteps([{ id: 'end', exit: false }]),
    withSteps([{ id: 'end', exit: true, next: 'end' }]),
    withSend({ channel: 'mail', template: 't' }),
    withSend({ template: 't', variants: [{ key: 'a', weight: 1, template: 'a' }, { key: 'b', weight: 1, template: 'b' }] }),
    withSend({}),
    withSend({ variants: [{ key: 'a', weight: 1, template: 'a' }] }),
    withSend({ variants: [{ key: 'a', weight: 0, template: 'a' }, { key: 'b', weight: 1, template: 'b' }] }),
    withSend({ variants: [{ key: 'a', weight: 1 }, { key: 'b', weight: 1, template: 'b' }] }),
    withSend({ template: 't', holdout: 100 }),
    withSend({ template: '../secrets' }),
    withSteps([{ id: 'a', waitUntil: { time: '24:00' } }, send]),
    withSteps([{ id: 'a', waitUntil: { time: '10:00', days: ['Tuesday'] } }, send]),
    withSteps([{ id: 'a', waitFor: { event: 'X' }, onEvent: 'hello', onTimeout: 'hello' }, send]),
    withSteps([{ id: 'a', waitFor: { event: 'X', timeout: '1d' }, next: 'hello' }, send]),
    withSteps([{ id: 'a', branch: [{ when: { subscribed: 'sms' }, next: 'hello' }] }, send]),
    withSteps([{ id: 'a', branch: [{ when: { trigger: 'total', op: 'gt', value: 'lots' } , next: 'hello' }], otherwise: 'hello' }, send]),
    withSteps([{ id: 'a', branch: [{ when: { trigger: 'x', op: 'exists', segment: 'vip' }, next: 'hello' }], otherwise: 'hello' }, send]),
    withSteps([{ id: 'a', webhook: { url: 'ftp://example.com/x' } }, send]),
    withSteps([{ id: 'a', webhook: { url: 'https://example.com', method: 'PATCH' } }, send]),
    withSteps([{ id: 'a', webhook: { url: 'https://example.com', headers: { 'X Bad': 'a' } } }, send]),
    withSteps([{ id: 'a', webhook: { url: 'https://example.com', retries: 11 } }, send]),
  ];

  it.each(accepted.map((input, i) => [i, input]))('accepts accepted example %d', (_, input) => {
    expect(parseScenarioDefinition(input).ok).toBe(true);
    expect(scenarioDefinitionSchema.safeParse(input).success).toBe(true);
  });

  it.each(rejected.map((input, i) => [i, input]))('rejects rejected example %d', (_, input) => {
    expect(parseScenarioDefinition(input).ok).toBe(false);
    expect(scenarioDefinitionSchema.safeParse(input).success).toBe(false);
  });
});
