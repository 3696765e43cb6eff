/**
 * The segment definition language as a Zod schema, for its JSON Schema (docs/segment.schema.json,
 * editors, the API description). Validation with precise messages is `parseSegmentDefinition`;
 * the tests check both against the same accepted and rejected examples.
 */
import { z } from 'zod';
import { DURATION_PATTERN } from '../time/durations';
import { ISO_DATE_PATTERN } from '../time/instants';
import { CHANNELS, SEGMENT_ID_PATTERN, type Condition, type SegmentDefinition } from './segment-definition';

/**
 * Descriptions and `$defs` names live in a registry of their own rather than Zod's global one, so
 * names such as `Duration` cannot clash with other schemas of the application.
 */
export const segmentSchemaRegistry = z.registry<z.core.GlobalMeta>();
function meta<Schema extends z.ZodType>(schema: Schema, data: z.core.GlobalMeta): Schema {
  segmentSchemaRegistry.add(schema as z.ZodType, data);
  return schema;
}

const Duration = meta(z.string().regex(DURATION_PATTERN), {
  id: 'Duration',
  description: 'A whole number > 0 and one unit: s, m, h, d (24 hours) or w (7 days).',
  examples: ['30s', '15m', '1h', '7d', '2w'],
});

const IsoDate = meta(z.string().regex(ISO_DATE_PATTERN), {
  id: 'IsoDate',
  description: "An ISO 8601 date or date-time. Without an offset it is wall time in the user's timezone trait, else the workspace's, else UTC.",
});

const RelativeDate = meta(
  z.union([
    meta(z.strictObject({ ago: Duration }), { description: 'now minus the duration' }),
    meta(z.strictObject({ in: Duration }), { description: 'now plus the duration' }),
  ]),
  { id: 'RelativeDate', description: 'A moment relative to the time of evaluation.' },
);

const Scalar = z.union([z.string(), z.number(), z.boolean()]);

/** Trait conditions and property filters share operators and values; only the subject field differs. */
const comparison = <Subject extends z.core.$ZodLooseShape>(subject: Subject) =>
  z.union([
    z.strictObject({ ...subject, op: z.enum(['eq', 'neq', 'contains']), value: Scalar }),
    z.strictObject({ ...subject, op: z.enum(['gt', 'gte', 'lt', 'lte']), value: z.union([z.number(), IsoDate, RelativeDate]) }),
    z.strictObject({ ...subject, op: z.literal('in'), value: z.array(Scalar).min(1) }),
    z.strictObject({
      ...subject,
      op: z.literal('exists'),
      value: meta(z.boolean().optional(), { description: 'false matches a missing (or null) value' }),
    }),
  ]);

const PropertyFilter = meta(
  comparison({ property: meta(z.string().min(1), { description: 'Property name or dotted path (address.city, items.0.sku).' }) }),
  { id: 'PropertyFilter', description: "Compares a property of the event; relative dates are relative to the event's time." },
);

const TraitCondition = meta(comparison({ trait: meta(z.string().min(1), { description: 'Trait name or dotted path.' }) }), {
  id: 'TraitCondition',
  description: 'Compares a trait of the user.',
});

const Count = meta(
  z.union([z.strictObject({ gte: z.int().min(0) }), z.strictObject({ lte: z.int().min(0) }), z.strictObject({ eq: z.int().min(0) })]),
  { id: 'Count', description: 'How many matching events: exactly one of gte, lte, eq. Default { gte: 1 }.' },
);

const PerformedCondition = meta(
  z.strictObject({
    performed: meta(z.string().min(1), {
      description: 'The event name: a track event, or Page Viewed / Screen Viewed for page and screen calls.',
    }),
    where: meta(z.array(PropertyFilter).optional(), { description: "All filters must match the event's properties." }),
    count: Count.optional(),
    within: meta(Duration.optional(), { description: 'Only events with now - within < time <= now count. Absent: ever.' }),
  }),
  { id: 'PerformedCondition', description: 'The user performed an event, with optional property filters, count and window.' },
);

const segmentId = (description: string) => meta(z.string().regex(SEGMENT_ID_PATTERN), { description });

export const conditionSchema: z.ZodType<Condition> = meta(
  z.union([
    TraitCondition,
    PerformedCondition,
    z.strictObject({
      get not() {
        return conditionSchema;
      },
    }),
    z.strictObject({
      get all() {
        return z.array(conditionSchema).min(1);
      },
    }),
    z.strictObject({
      get any() {
        return z.array(conditionSchema).min(1);
      },
    }),
    z.strictObject({ segment: segmentId('Member of this other segment, at the same moment.') }),
    z.strictObject({
      subscribed: meta(z.enum(CHANNELS), { description: 'Not unsubscribed from this channel (everyone is subscribed until they unsubscribe).' }),
    }),
  ]),
  { id: 'Condition', description: 'Exactly one of trait, performed, not, all, any, segment, subscribed.' },
);

export const segmentDefinitionSchema: z.ZodType<SegmentDefinition> = meta(
  z.strictObject({
    id: segmentId('1 to 64 lowercase letters, digits, - or _, starting with a letter or digit.'),
    name: z.string().min(1),
    description: z.string().optional(),
    where: conditionSchema,
  }),
  { title: 'Herald segment definition', description: 'A segment of users; see docs/segments.md.' },
);

/** JSON Schema (draft 2020-12) of a segment definition; also committed as docs/segment.schema.json. */
export const segmentDefinitionJsonSchema: Record<string, unknown> = z.toJSONSchema(segmentDefinitionSchema, {
  target: 'draft-2020-12',
  metadata: segmentSchemaRegistry,
});
