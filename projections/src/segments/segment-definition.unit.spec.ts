import { parseSegmentDefinition, validateSegmentGraph, type DefinitionProblem, type SegmentDefinition } from './segment-definition';
import { segmentDefinitionSchema } from './segment-schema';

/** examples/segments/engaged-shoppers.yaml, as a YAML parser returns it. */
const engagedShoppers = {
  id: 'engaged-shoppers',
  name: 'Engaged shoppers',
  where: {
    all: [
      { trait: 'plan', op: 'eq', value: 'pro' },
      {
        performed: 'Product Viewed',
        where: [{ property: 'category', op: 'eq', value: 'shoes' }],
        count: { gte: 3 },
        within: '7d',
      },
      { not: { performed: 'Order Completed', within: '30d' } },
    ],
  },
};

const problemsOf = (input: unknown): DefinitionProblem[] => {
  const result = parseSegmentDefinition(input);
  if (result.ok) throw new Error('expected problems');
  return result.problems;
};
const withWhere = (where: unknown) => ({ id: 's', name: 'S', where });

describe('parseSegmentDefinition', () => {
  it('accepts the engaged-shoppers example verbatim and returns it unchanged', () => {
    const result = parseSegmentDefinition(engagedShoppers);
    expect(result).toEqual({ ok: true, definition: engagedShoppers });
    if (result.ok) expect(result.definition).not.toBe(engagedShoppers);
  });

  it('accepts every condition shape and operator', () => {
    const where = {
      any: [
        { trait: 'plan', op: 'neq', value: 'free' },
        { trait: 'age', op: 'gt', value: 17 },
        { trait: 'createdAt', op: 'lte', value: { ago: '30d' } },
        { trait: 'trialEndsAt', op: 'lt', value: { in: '3d' } },
        { trait: 'renewedAt', op: 'gte', value: '2026-01-01' },
        { trait: 'email', op: 'contains', value: '@example.com' },
        { trait: 'phone', op: 'exists' },
        { trait: 'phone', op: 'exists', value: false },
        { trait: 'country', op: 'in', value: ['NL', 'BE', 1, true] },
        { performed: 'Logged In', count: { eq: 0 } },
        { performed: 'Order Completed', where: [{ property: 'items.0.sku', op: 'exists' }], count: { lte: 2 }, within: '2w' },
        { segment: 'engaged-shoppers' },
        { subscribed: 'in_app' },
        { not: { all: [{ subscribed: 'email' }] } },
      ],
    };
    expect(parseSegmentDefinition({ ...withWhere(where), description: 'everything' }).ok).toBe(true);
  });

  it('reads YAML dates (Date objects) as ISO strings', () => {
    const result = parseSegmentDefinition(
      withWhere({
        all: [
          { trait: 'createdAt', op: 'gte', value: new Date('2026-03-01T00:00:00Z') },
          { trait: 'createdAt', op: 'lt', value: new Date('2026-03-01T10:30:00Z') },
        ],
      }),
    );
    expect(result.ok && result.definition.where).toEqual({
      all: [
        { trait: 'createdAt', op: 'gte', value: '2026-03-01' },
        { trait: 'createdAt', op: 'lt', value: '2026-03-01T10:30:00.000Z' },
      ],
    });
  });

  describe('names the path of each problem', () => {
    it.each<[string, unknown, DefinitionProblem[]]>([
      [
        'an unknown operator',
        withWhere({ all: [{ trait: 'plan', op: 'equals', value: 'pro' }] }),
        [{ path: 'where.all[0].op', message: 'unknown operator "equals"; use one of eq, neq, gt, gte, lt, lte, contains, exists, in' }],
      ],
      [
        'a window like 7x',
        withWhere({ all: [{ trait: 'plan', op: 'eq', value: 'pro' }, { performed: 'Product Viewed', within: '7x' }] }),
        [{ path: 'where.all[1].within', message: '"7x" is not a duration: use a number and one of s, m, h, d, w, e.g. 7d' }],
      ],
      ['a missing operator', withWhere({ trait: 'plan', value: 'pro' }), [{ path: 'where.op', message: 'missing field: use one of eq, neq, gt, gte, lt, lte, contains, exists, in' }]],
      ['a missing value', withWhere({ trait: 'plan', op: 'eq' }), [{ path: 'where.value', message: 'missing field: eq needs a value' }]],
      ['a missing trait name', withWhere({ op: 'eq', value: 'pro' }), [{ path: 'where.trait', message: 'missing field: a trait condition has trait, op and value' }]],
      [
        'a missing event name',
        withWhere({ not: { within: '30d' } }),
        [{ path: 'where.not.performed', message: 'missing field: a performed condition names the event, e.g. performed: Order Completed' }],
      ],
      [
        'a condition that is none of the shapes',
        withWhere({ all: [{ event: 'Signed Up' }] }),
        [{ path: 'where.all[0]', message: 'not a condition: use one of trait, performed, not, all, any, segment, subscribed (found event)' }],
      ],
      [
        'a condition with two shapes',
        withWhere({ trait: 'plan', op: 'eq', value: 'pro', performed: 'Signed Up' }),
        [
          {
            path: 'where',
            message:
              'a condition has exactly one of trait, performed, not, all, any, segment, subscribed, found trait and performed; combine them under all: or any:',
          },
        ],
      ],
      [
        'a list where a condition belongs',
        withWhere([{ trait: 'plan', op: 'eq', value: 'pro' }]),
        [
          {
            path: 'where',
            message:
              'a condition is an object with one of trait, performed, not, all, any, segment, subscribed, got [{"trait":"plan","op":"eq","value":"pro"}]; to combine several conditions put them under all: or any:',
          },
        ],
      ],
      [
        'in without an array',
        withWhere({ trait: 'plan', op: 'in', value: 'pro' }),
        [{ path: 'where.value', message: 'in needs an array value, e.g. [pro, enterprise]; got "pro"' }],
      ],
      ['in with an empty array', withWhere({ trait: 'plan', op: 'in', value: [] }), [{ path: 'where.value', message: 'in needs at least one value' }]],
      [
        'in with an object element',
        withWhere({ trait: 'plan', op: 'in', value: ['pro', { a: 1 }] }),
        [{ path: 'where.value[1]', message: 'must be a string, number or boolean, got {"a":1}' }],
      ],
      [
        'exists with a value',
        withWhere({ trait: 'phone', op: 'exists', value: 'yes' }),
        [{ path: 'where.value', message: 'exists takes no value (or true / false), got "yes"' }],
      ],
      [
        'eq with null',
        withWhere({ trait: 'phone', op: 'eq', value: null }),
        [{ path: 'where.value', message: 'eq cannot compare with null; use op: exists (value: false for a missing one)' }],
      ],
      [
        'eq with a list',
        withWhere({ trait: 'plan', op: 'eq', value: ['pro'] }),
        [{ path: 'where.value', message: 'eq takes a single value; to match any of several use op: in' }],
      ],
      [
        'a relative date with eq',
        withWhere({ trait: 'createdAt', op: 'eq', value: { ago: '1d' } }),
        [{ path: 'where.value', message: 'a relative date compares with gt, gte, lt or lte' }],
      ],
      [
        'gt with a word',
        withWhere({ trait: 'version', op: 'gt', value: 'two' }),
        [{ path: 'where.value', message: '"two" is neither a number nor an ISO 8601 date; gt compares numbers and dates (also { ago: 30d } or { in: 3d })' }],
      ],
      [
        'a relative date with a bad duration',
        withWhere({ trait: 'createdAt', op: 'lt', value: { ago: '30 days' } }),
        [{ path: 'where.value.ago', message: '"30 days" is not a duration: use a number and one of s, m, h, d, w, e.g. 7d' }],
      ],
      [
        'a relative date with both directions',
        withWhere({ trait: 'createdAt', op: 'lt', value: { ago: '1d', in: '1d' } }),
        [{ path: 'where.value', message: 'a relative date has exactly one of ago or in, e.g. { ago: 30d }; got {"ago":"1d","in":"1d"}' }],
      ],
      ['a count with no bound', withWhere({ performed: 'X', count: {} }), [{ path: 'where.count', message: 'count needs exactly one of gte, lte, eq, e.g. { gte: 3 }' }]],
      [
        'a count with two bounds',
        withWhere({ performed: 'X', count: { gte: 1, lte: 3 } }),
        [{ path: 'where.count', message: 'count takes exactly one of gte, lte, eq; found gte and lte' }],
      ],
      ['a negative count', withWhere({ performed: 'X', count: { gte: -1 } }), [{ path: 'where.count.gte', message: 'must be a whole number >= 0, got -1' }]],
      ['a fractional count', withWhere({ performed: 'X', count: { eq: 1.5 } }), [{ path: 'where.count.eq', message: 'must be a whole number >= 0, got 1.5' }]],
      [
        'a count given as a number',
        withWhere({ performed: 'X', count: 3 }),
        [{ path: 'where.count', message: 'count is an object with one of gte, lte, eq, e.g. { gte: 3 }; got 3' }],
      ],
      [
        'an unknown field in a condition',
        withWhere({ performed: 'X', withn: '7d' }),
        [{ path: 'where.withn', message: 'unknown field "withn" in a performed condition; allowed fields are performed, where, count, within' }],
      ],
      [
        'an unknown field in a property filter',
        withWhere({ performed: 'X', where: [{ property: 'a', op: 'eq', value: 1, note: 'x' }] }),
        [{ path: 'where.where[0].note', message: 'unknown field "note" in a property filter; allowed fields are property, op, value' }],
      ],
      [
        'an unknown operator in a property filter',
        withWhere({ performed: 'X', where: [{ property: 'a', op: '==', value: 1 }] }),
        [{ path: 'where.where[0].op', message: 'unknown operator "=="; use one of eq, neq, gt, gte, lt, lte, contains, exists, in' }],
      ],
      [
        'property filters given as an object',
        withWhere({ performed: 'X', where: { property: 'a', op: 'eq', value: 1 } }),
        [{ path: 'where.where', message: 'where takes a list of property filters ({ property, op, value }), got {"property":"a","op":"eq","value":1}' }],
      ],
      ['an empty all', withWhere({ all: [] }), [{ path: 'where.all', message: 'all needs at least one condition' }]],
      ['any given an object', withWhere({ any: { segment: 'a' } }), [{ path: 'where.any', message: 'any takes a list of conditions, got {"segment":"a"}' }]],
      [
        'an unknown channel',
        withWhere({ subscribed: 'mail' }),
        [{ path: 'where.subscribed', message: 'unknown channel "mail"; use one of email, sms, whatsapp, telegram, push, in_app' }],
      ],
      ['a reference to itself', withWhere({ any: [{ segment: 'x' }, { segment: 's' }] }), [{ path: 'where.any[1].segment', message: 'segment "s" refers to itself' }]],
      [
        'a bad segment reference',
        withWhere({ segment: 'Engaged Shoppers' }),
        [{ path: 'where.segment', message: '"Engaged Shoppers" is not a segment id: use 1 to 64 lowercase letters, digits, "-" or "_", starting with a letter or digit' }],
      ],
    ])('%s', (_, input, expected) => {
      expect(problemsOf(input)).toEqual(expected);
    });
  });

  it('checks the id, name, description and unknown top-level fields', () => {
    expect(problemsOf({ id: 'Engaged_Shoppers', name: '', description: 3, where: { subscribed: 'email' }, version: 2 })).toEqual([
      { path: 'version', message: 'unknown field "version" in a segment definition; allowed fields are id, name, description, where' },
      { path: 'id', message: '"Engaged_Shoppers" is not a segment id: use 1 to 64 lowercase letters, digits, "-" or "_", starting with a letter or digit' },
      { path: 'name', message: 'must be a non-empty string' },
      { path: 'description', message: 'must be a string' },
    ]);
    expect(problemsOf({})).toEqual([
      { path: 'id', message: 'missing field: a segment needs an id such as engaged-shoppers' },
      { path: 'name', message: 'missing field: a segment needs a name' },
      { path: 'where', message: 'missing field: a segment needs a where condition' },
    ]);
    expect(problemsOf('id: x')).toEqual([{ path: '', message: 'a segment definition is an object with id, name and where (description is optional)' }]);
    expect(problemsOf({ id: 'a'.repeat(65), name: 'x', where: { subscribed: 'sms' } })[0].path).toBe('id');
    expect(parseSegmentDefinition({ id: '0' + 'a'.repeat(63), name: 'x', where: { subscribed: 'sms' } }).ok).toBe(true);
  });

  it('returns every problem, not just the first', () => {
    const problems = problemsOf({
      id: 'engaged-shoppers',
      name: 'Engaged shoppers',
      where: {
        all: [
          { trait: 'plan', op: 'equals', value: 'pro' },
          { performed: 'Product Viewed', count: { gte: 3, eq: 1 }, within: '7x' },
          { not: { performed: 'Order Completed', within: '30d', extra: true } },
          { segment: 'engaged-shoppers' },
        ],
      },
    });
    expect(problems.map((problem) => problem.path)).toEqual([
      'where.all[0].op',
      'where.all[1].count',
      'where.all[1].within',
      'where.all[2].not.extra',
      'where.all[3].segment',
    ]);
  });

  it('rejects nesting deeper than 32 levels instead of recursing without bound', () => {
    let where: unknown = { subscribed: 'email' };
    for (let i = 0; i < 40; i++) where = { not: where };
    const problems = problemsOf(withWhere(where));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toEqual({ path: `where${'.not'.repeat(32)}`, message: 'conditions nest deeper than 32 levels' });
  });

  it('does not let a __proto__ key through', () => {
    const input = JSON.parse('{"id":"s","name":"S","where":{"subscribed":"email","__proto__":{"polluted":true}}}');
    expect(problemsOf(input)).toEqual([
      { path: 'where.__proto__', message: 'unknown field "__proto__" in a subscribed condition; allowed fields are subscribed' },
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('validateSegmentGraph', () => {
  const def = (id: string, where: SegmentDefinition['where']): SegmentDefinition => ({ id, name: id, where });

  it('accepts references to existing segments in any order', () => {
    expect(validateSegmentGraph([def('b', { segment: 'a' }), def('a', { subscribed: 'email' }), def('c', { all: [{ segment: 'a' }, { segment: 'b' }] })])).toEqual([]);
  });

  it('reports unknown references, self references, cycles and duplicate ids at the path of the reference', () => {
    const problems = validateSegmentGraph([
      def('a', { any: [{ segment: 'missing' }, { subscribed: 'email' }] }),
      def('self', { not: { segment: 'self' } }),
      def('x', { all: [{ subscribed: 'sms' }, { segment: 'y' }] }),
      def('y', { segment: 'z' }),
      def('z', { any: [{ segment: 'x' }] }),
      def('a', { subscribed: 'push' }),
    ]);
    expect(problems).toEqual([
      { segment: 'a', path: 'id', message: 'segment "a" is defined more than once' },
      { segment: 'a', path: 'where.any[0].segment', message: 'segment "missing" does not exist' },
      { segment: 'self', path: 'where.not.segment', message: 'segment "self" refers to itself' },
      { segment: 'x', path: 'where.all[1].segment', message: 'segment "x" refers to itself: x -> y -> z -> x' },
      { segment: 'y', path: 'where.segment', message: 'segment "y" refers to itself: y -> z -> x -> y' },
      { segment: 'z', path: 'where.any[0].segment', message: 'segment "z" refers to itself: z -> x -> y -> z' },
    ]);
  });
});

describe('the Zod schema behind docs/segment.schema.json', () => {
  // Everything parseSegmentDefinition accepts or rejects above, the schema must too.
  const accepted: unknown[] = [
    engagedShoppers,
    withWhere({ trait: 'createdAt', op: 'lte', value: { ago: '30d' } }),
    withWhere({ trait: 'phone', op: 'exists' }),
    withWhere({ trait: 'country', op: 'in', value: ['NL', 2, false] }),
    withWhere({ any: [{ segment: 'a' }, { not: { subscribed: 'whatsapp' } }, { performed: 'X', count: { eq: 0 } }] }),
    withWhere({ performed: 'X', where: [{ property: 'at', op: 'gt', value: '2026-01-01T10:00+02:00' }] }),
  ];
  const rejected: unknown[] = [
    withWhere({ trait: 'plan', op: 'equals', value: 'pro' }),
    withWhere({ performed: 'X', within: '7x' }),
    withWhere({ trait: 'plan', op: 'in', value: 'pro' }),
    withWhere({ trait: 'phone', op: 'exists', value: 'yes' }),
    withWhere({ trait: 'createdAt', op: 'eq', value: { ago: '1d' } }),
    withWhere({ trait: 'version', op: 'gt', value: 'two' }),
    withWhere({ performed: 'X', count: { gte: 1, lte: 3 } }),
    withWhere({ performed: 'X', count: { gte: -1 } }),
    withWhere({ performed: 'X', withn: '7d' }),
    withWhere({ all: [] }),
    withWhere({ subscribed: 'mail' }),
    withWhere({ trait: 'plan', op: 'eq', value: 'pro', performed: 'Signed Up' }),
    { id: 'Bad Id', name: 'x', where: { subscribed: 'email' } },
    { id: 'ok', name: 'x', where: { subscribed: 'email' }, version: 1 },
  ];

  it.each(accepted.map((input, i) => [i, input]))('accepts accepted example %d', (_, input) => {
    expect(parseSegmentDefinition(input).ok).toBe(true);
    expect(segmentDefinitionSchema.safeParse(input).success).toBe(true);
  });

  it.each(rejected.map((input, i) => [i, input]))('rejects rejected example %d', (_, input) => {
    expect(parseSegmentDefinition(input).ok).toBe(false);
    expect(segmentDefinitionSchema.safeParse(input).success).toBe(false);
  });
});
