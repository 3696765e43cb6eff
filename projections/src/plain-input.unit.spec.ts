import { parseScenarioDefinition } from './scenarios/parse-scenario';
import { parseSegmentDefinition } from './segments/segment-definition';
import { MAX_NESTING, tooDeeplyNested } from './plain-input';

/** `{ a: { a: ... 1 } }` with `levels` objects, built without recursion. */
function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

describe('tooDeeplyNested', () => {
  it('names the path of the first level past the limit, and nothing within it', () => {
    expect(tooDeeplyNested(nested(MAX_NESTING))).toBeUndefined();
    expect(tooDeeplyNested(nested(MAX_NESTING + 1))).toBe(Array(MAX_NESTING).fill('a').join('.'));
    expect(tooDeeplyNested({ list: [[[1]]] }, 3)).toBe('list[0][0]');
    expect(tooDeeplyNested([1, 'x', null, new Date(0)], 1)).toBeUndefined();
  });

  it('answers for any depth without overflowing the stack', () => {
    expect(tooDeeplyNested(nested(200_000))).toBeDefined();
  });
});

describe('definitions nested too deeply are problems, not stack overflows', () => {
  it('a segment definition', () => {
    const result = parseSegmentDefinition({ id: 's', name: 'S', where: nested(100_000) });
    expect(result).toEqual({ ok: false, problems: [{ path: expect.stringMatching(/^where\.a\.a/), message: `nests objects and arrays more than ${MAX_NESTING} levels deep` }] });
  });

  it('a scenario definition', () => {
    const result = parseScenarioDefinition({ id: 's', name: 'S', trigger: { event: 'X' }, steps: [nested(100_000)] });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems).toEqual([{ path: expect.stringMatching(/^steps\[0\]\.a/), message: `nests objects and arrays more than ${MAX_NESTING} levels deep` }]);
  });
});
