import * as stats from './index';

describe('stats public API', () => {
  it('exports exactly the contracted functions', () => {
    expect(Object.keys(stats).sort()).toEqual(
      [
        'benjaminiHochberg',
        'chanceToBeatControl',
        'chooseVariant',
        'gbHash',
        'holm',
        'probBBeatsA',
        'sequentialTest',
        'srmTest',
        'twoProportionZTest',
      ].sort(),
    );
  });
});
