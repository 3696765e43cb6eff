import { yamlTooDeep } from './yaml-nesting';

describe('yamlTooDeep', () => {
  it('names the line of the first flow collection past the limit', () => {
    expect(yamlTooDeep('a: [[1]]\nb: {c: [2]}', 2)).toBeUndefined();
    expect(yamlTooDeep('a: 1\nb: [[[1]]]', 2)).toBe(2);
    expect(yamlTooDeep(`${'['.repeat(100_000)}${']'.repeat(100_000)}`, 64)).toBe(1);
  });

  it('skips quoted scalars and comments, where brackets are text', () => {
    expect(yamlTooDeep(`a: "[[[[" # [[[[\nb: '[[[['' [[[['\nc: "\\"[[[["`, 2)).toBeUndefined();
    expect(yamlTooDeep('url: https://example.com/#[[[[', 2)).toBe(1);
  });

  it('counts block nesting not at all (indentation), only brackets', () => {
    expect(yamlTooDeep(Array.from({ length: 100 }, (_, i) => `${' '.repeat(i)}a:`).join('\n'), 2)).toBeUndefined();
  });
});
