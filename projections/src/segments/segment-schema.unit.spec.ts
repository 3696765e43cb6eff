import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { segmentDefinitionJsonSchema } from './segment-schema';

const committed = join(__dirname, '../../../docs/segment.schema.json');
const expected = `${JSON.stringify(segmentDefinitionJsonSchema, null, 2)}\n`;

describe('docs/segment.schema.json', () => {
  it('is the JSON Schema the code publishes (regenerate with UPDATE_SEGMENT_SCHEMA=1 npx jest segment-schema)', () => {
    if (process.env.UPDATE_SEGMENT_SCHEMA === '1') writeFileSync(committed, expected);
    expect(readFileSync(committed, 'utf8')).toBe(expected);
  });

  it('names its parts', () => {
    const defs = (segmentDefinitionJsonSchema as { $defs: Record<string, unknown> }).$defs;
    expect(Object.keys(defs).sort()).toEqual(['Condition', 'Count', 'Duration', 'IsoDate', 'PerformedCondition', 'PropertyFilter', 'RelativeDate', 'TraitCondition']);
    expect(segmentDefinitionJsonSchema).toMatchObject({ $schema: 'https://json-schema.org/draft/2020-12/schema', additionalProperties: false, required: ['id', 'name', 'where'] });
  });
});
