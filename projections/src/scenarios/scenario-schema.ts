/**
 * The scenario definition language as a Zod schema, for its JSON Schema (docs/scenario.schema.json,
 * editors, the API description). Validation with precise messages, references between steps and
 * the linter are `parseScenarioDefinition`'s; the tests check both against the same accepted and
 * rejected shapes. Conditions and property filters are the segment language's own schemas.
 */
import { z } from 'zod';
import { TIME_OF_DAY } from '../messaging/quiet-hours';
import { CHANNELS, SEGMENT_ID_PATTERN, type Condition, type PropertyFilter } from '../segments/segment-definition';
import { conditionSchema, segmentSchemaRegistry } from '../segments/segment-schema';
import { DURATION_PATTERN } from '../time/durations';
import { HTTP_HEADER_NAME, MAX_VARIANT_WEIGHT, MAX_WEBHOOK_RETRIES, STEP_KINDS, WEBHOOK_METHODS, WEEKDAYS } from './parse-scenario';
import type { BranchCondition, EntryRules, ScenarioDefinition, SendStep, Step, Trigger } from './scenario-definition';

/**
 * Descriptions and `$defs` names of the scenario language. Schemas it shares with the segment
 * language (Condition, PropertyFilter, Duration...) keep the segment registry's metadata, so both
 * JSON Schemas describe them with the same words.
 */
class ScenarioSchemaRegistry extends z.core.$ZodRegistry<z.core.GlobalMeta> {
  override get<S extends z.core.$ZodType>(schema: S): z.core.$replace<z.core.GlobalMeta, S> | undefined {
    return super.get(schema) ?? segmentSchemaRegistry.get(schema);
  }
}
export const scenarioSchemaRegistry: z.core.$ZodRegistry<z.core.GlobalMeta> = new ScenarioSchemaRegistry();
function meta<Schema extends z.ZodType>(schema: Schema, data: z.core.GlobalMeta): Schema {
  scenarioSchemaRegistry.add(schema as z.ZodType, data);
  return schema;
}

/** A copy of a shared schema with its own description; in the JSON Schema, a `$ref` to the shared one. */
function describe<Schema extends z.ZodType>(schema: Schema, description: string): Schema {
  return meta(schema.clone() as Schema, { description });
}

/** A schema registered by segment-schema.ts, looked up by its `$defs` name. */
function segmentPart<Schema>(id: string): Schema {
  const schema = segmentSchemaRegistry._idmap.get(id);
  if (schema === undefined) throw new Error(`segment-schema.ts registers no schema named ${id}`);
  return schema as unknown as Schema;
}
const Duration = segmentPart<z.ZodString>('Duration');
const IsoDate = segmentPart<z.ZodString>('IsoDate');
const PropertyFilterSchema = segmentPart<z.ZodType<PropertyFilter>>('PropertyFilter');
/** Trait conditions are a union of one strict object per group of operators, each with trait, op and value. */
const TraitCondition = segmentPart<z.ZodUnion<Array<z.ZodObject<{ trait: z.ZodString; op: z.ZodType<PropertyFilter['op']>; value: z.ZodType }>>>>(
  'TraitCondition',
);

const id = (description: string) => meta(z.string().regex(SEGMENT_ID_PATTERN), { description });
const SegmentId = meta(z.string().regex(SEGMENT_ID_PATTERN), { id: 'SegmentId', description: 'The id of a segment (see docs/segments.md).' });
const StepId = meta(z.string().regex(SEGMENT_ID_PATTERN), { id: 'StepId', description: 'The id of a step of this scenario.' });
const TemplateId = meta(z.string().regex(SEGMENT_ID_PATTERN), {
  id: 'TemplateId',
  description: "A template's id: its file name under the workspace's templates without extension (cart-plain for cart-plain.mjml).",
});
const EventName = meta(z.string().min(1), { description: 'An event name, e.g. Order Completed.' });
const Filters = meta(z.array(PropertyFilterSchema).optional(), { description: "All filters must match the event's properties." });
const TimeOfDay = meta(z.string().regex(TIME_OF_DAY), { id: 'TimeOfDay', description: 'A local time of day, "HH:MM" (quote it in YAML).', examples: ['10:00'] });

const EventTrigger = meta(z.strictObject({ event: EventName, where: Filters }), { description: 'The user performed this event.' });
const SegmentTrigger = meta(
  z.strictObject({
    segment: z.union([
      z.strictObject({ entered: SegmentId }),
      z.strictObject({ exited: SegmentId }),
    ]),
  }),
  { description: 'The user entered or exited a segment. Inactivity is a segment with a not-performed window.' },
);
const scheduleFields = {
  segment: SegmentId,
  localTime: meta(TimeOfDay.optional(), { description: "Send at this time of day in each user's timezone." }),
};
const ScheduleTrigger = meta(
  z.strictObject({
    schedule: z.union([
      meta(z.strictObject({ ...scheduleFields, at: IsoDate }), { description: 'Once, at this moment (or on this date at localTime).' }),
      meta(z.strictObject({ ...scheduleFields, every: Duration }), { description: 'Every period; with localTime the period is whole days.' }),
    ]),
  }),
  { description: "A broadcast to a segment's members, once or recurring." },
);
const ApiTrigger = meta(z.strictObject({ api: z.literal(true) }), {
  description: 'Only POST /api/scenarios/:id/trigger (transactional messages); the request carries the trigger properties.',
});
const TriggerSchema: z.ZodType<Trigger> = meta(z.union([EventTrigger, SegmentTrigger, ScheduleTrigger, ApiTrigger]), {
  id: 'Trigger',
  description: 'What enrols a user: exactly one of event, segment, schedule, api.',
});

const Reenter = meta(z.union([z.enum(['once', 'always']), z.string().regex(new RegExp(`^after ${DURATION_PATTERN.source.slice(1)}`))]), {
  description: '`once` (default): a user enrols at most once; `always`; or `after <duration>` since their previous enrolment started.',
  examples: ['once', 'always', 'after 7d'],
}) as z.ZodType<NonNullable<EntryRules['reenter']>>;
const Entry: z.ZodType<EntryRules> = meta(
  z.strictObject({
    reenter: Reenter.optional(),
    concurrent: meta(z.boolean().optional(), { description: 'Allow several active enrolments of one user at once (default false).' }),
  }),
  { id: 'EntryRules', description: 'Who may enrol again.' },
);

const EventMatch = meta(z.strictObject({ event: EventName, where: Filters }), { description: 'An event, with optional property filters.' });
const Goal = meta(
  z.strictObject({
    event: EventName,
    where: Filters,
    within: describe(Duration, 'A conversion counts within this window after enrolment.'),
  }),
  { id: 'Goal', description: 'The conversion the scenario and its A/B tests are measured by.' },
);

const Variant = meta(
  z.strictObject({
    key: id('The variant key, as reported in analytics and GrowthBook. `holdout` is reserved.'),
    weight: meta(z.number().positive().max(MAX_VARIANT_WEIGHT), { description: 'Relative weight: 50 and 50 split evenly. At most 1,000,000, so the sum of the weights stays finite.' }),
    template: TemplateId,
    subject: z.string().min(1).optional(),
  }),
  { id: 'Variant' },
);
const sendFields = {
  channel: z.enum(CHANNELS),
  subject: meta(z.string().min(1).optional(), { description: 'Subject line (email) or title; Liquid placeholders allowed.' }),
  holdout: meta(z.number().min(0).lt(100).optional(), { description: 'Percentage of enrolments that get no message and are still measured.' }),
  transactional: meta(z.boolean().optional(), { description: 'A service message: exempt from frequency caps, never held out.' }),
  quietHours: meta(z.enum(['respect', 'ignore']).optional(), { description: 'ignore: send during quiet hours too (transactional messages only).' }),
  topic: meta(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/).optional(), { description: 'Subscription topic: people unsubscribed from it (or from the channel) do not get the message.' }),
};
const SendSchema: z.ZodType<SendStep> = meta(
  z.union([
    meta(z.strictObject({ ...sendFields, template: TemplateId }), { description: 'One message.' }),
    meta(
      z.strictObject({
        ...sendFields,
        variants: z.array(Variant).min(2),
        control: id('The key of the control variant (default: the first variant).').optional(),
        autoWinner: meta(
          z
            .strictObject({
              minExposures: meta(z.number().int().min(1).max(1_000_000_000), { description: 'Exposures every variant needs before a winner may be declared.' }),
              alpha: meta(z.number().gt(0).max(0.2).optional(), { description: 'Significance level of the sequential test (default 0.05).' }),
            })
            .optional(),
          {
            description:
              'Conclude the test by itself: when the always-valid sequential test finds a winner at alpha, the sample ratio matches the weights and every variant has minExposures, new enrolments get the winner (the holdout keeps its share). Needs the scenario goal.',
          },
        ),
      }),
      { description: 'An A/B test: each enrolment gets one variant, chosen by weight, sticky per user.' },
    ),
  ]),
  { id: 'Send', description: 'Queue a message: template or variants.' },
);

const TriggerComparison = meta(
  z.union(
    TraitCondition.options.map((option) =>
      z.strictObject({
        trigger: meta(z.string().min(1), { description: 'A property of the trigger event, or a dotted path.' }),
        op: option.shape.op,
        value: option.shape.value,
      }),
    ) as unknown as [z.ZodType, z.ZodType, ...z.ZodType[]],
  ),
  { id: 'TriggerCondition', description: 'Compares a property of the trigger event, with the operators of a property filter.' },
);
export const branchConditionSchema: z.ZodType<BranchCondition> = meta(
  z.union([
    conditionSchema as z.ZodType<Condition>,
    TriggerComparison as z.ZodType<Extract<BranchCondition, { trigger: string }>>,
    z.strictObject({
      get all() {
        return z.array(branchConditionSchema).min(1);
      },
    }),
    z.strictObject({
      get any() {
        return z.array(branchConditionSchema).min(1);
      },
    }),
    z.strictObject({
      get not() {
        return branchConditionSchema;
      },
    }),
  ]),
  { id: 'BranchCondition', description: "A segment condition on the user, or a comparison on the trigger event's properties, combined with all, any, not." },
);

const step = <Shape extends z.core.$ZodLooseShape>(shape: Shape, description: string, next = true) =>
  meta(z.strictObject({ id: StepId, ...(next ? { next: meta(StepId.optional(), { description: 'Go on here instead of the following step.' }) } : {}), ...shape }), {
    description,
  });
const StepSchema: z.ZodType<Step> = meta(
  z.union([
    step({ send: SendSchema }, 'Queue a message.'),
    step({ wait: describe(Duration, 'How long to wait.') }, 'Wait a duration.'),
    step(
      {
        waitUntil: z.strictObject({
          time: TimeOfDay,
          days: meta(z.array(z.enum(WEEKDAYS)).min(1).optional(), { description: 'Allowed weekdays; default every day.' }),
        }),
      },
      "Wait until the next time of day (in the user's timezone) on an allowed weekday.",
    ),
    step(
      {
        waitFor: z.strictObject({
          event: EventName,
          where: Filters,
          matchTrigger: meta(z.array(z.string().min(1)).min(1).optional(), {
            description: "Properties whose value must equal the trigger event's, e.g. [cart_id].",
          }),
          timeout: Duration,
        }),
        onEvent: describe(StepId, 'Where to go when the event arrives.'),
        onTimeout: describe(StepId, 'Where to go when the timeout passes first.'),
      },
      'Wait for an event, at most timeout.',
      false,
    ),
    step(
      {
        branch: z.array(z.strictObject({ when: branchConditionSchema, next: StepId })).min(1),
        otherwise: describe(StepId, 'Where to go when no case matches.'),
      },
      'Go to the next of the first case whose condition holds.',
      false,
    ),
    step(
      {
        webhook: z.strictObject({
          url: meta(z.string().regex(/^https?:\/\/[^/?#\s]+/i), { format: 'uri', description: 'An http:// or https:// URL; {{ }} placeholders are allowed after the host.' }),
          method: meta(z.enum(WEBHOOK_METHODS).optional(), { description: 'Default POST. GET takes no body.' }),
          headers: z.record(z.string().regex(HTTP_HEADER_NAME), z.string()).optional(),
          body: meta(z.unknown().optional(), { description: 'JSON; {{ }} placeholders are filled from the user and the trigger.' }),
          retries: z.int().min(0).max(MAX_WEBHOOK_RETRIES).optional(),
        }),
      },
      'Call an HTTP endpoint, with retries.',
    ),
    step({ exit: z.literal(true) }, 'End the enrolment.', false),
  ]),
  { id: 'Step', description: `An id and exactly one of ${STEP_KINDS.join(', ')}.` },
) as unknown as z.ZodType<Step>;

export const scenarioDefinitionSchema: z.ZodType<ScenarioDefinition> = meta(
  z.strictObject({
    id: id('1 to 64 lowercase letters, digits, - or _, starting with a letter or digit.'),
    name: z.string().min(1),
    description: z.string().optional(),
    trigger: TriggerSchema,
    entry: Entry.optional(),
    exitOn: meta(z.array(EventMatch).min(1).optional(), { description: 'Any of these events ends the enrolment.' }),
    goal: Goal.optional(),
    steps: meta(z.array(StepSchema).min(1), { description: 'Run in order unless a step says where to go on.' }),
    migrate: meta(z.boolean().optional(), { description: 'On publish, move running enrolments to this version by step id.' }),
  }),
  { title: 'Herald scenario definition', description: 'A scenario: trigger, entry rules and steps; see docs/scenarios.md.' },
);

/** JSON Schema (draft 2020-12) of a scenario definition; also committed as docs/scenario.schema.json. */
export const scenarioDefinitionJsonSchema: Record<string, unknown> = z.toJSONSchema(scenarioDefinitionSchema, {
  target: 'draft-2020-12',
  metadata: scenarioSchemaRegistry,
});
