import { GenerationalMap } from './generational-map';

describe('GenerationalMap', () => {
  it('keeps the current generation and the one before, and drops older ones', () => {
    const map = new GenerationalMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3); // a and b become the previous generation
    expect([map.get('a'), map.get('b'), map.get('c')]).toEqual([1, 2, 3]);
    map.set('d', 4);
    map.set('e', 5); // c and d become the previous generation; a and b are dropped
    expect([map.get('a'), map.get('b'), map.get('c'), map.get('d'), map.get('e')]).toEqual([undefined, undefined, 3, 4, 5]);
  });

  it('moves an entry set again into the current generation, and updates one already there without rotating', () => {
    const map = new GenerationalMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    map.set('b', 20); // already current: no new generation
    map.set('c', 3); // a and b become previous
    map.set('a', 10); // back into the current generation
    map.set('d', 4); // c and a become previous; b is dropped
    expect([map.get('a'), map.get('b'), map.get('c'), map.get('d')]).toEqual([10, undefined, 3, 4]);
  });
});
