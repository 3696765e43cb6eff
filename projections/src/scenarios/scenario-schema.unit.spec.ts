import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { segmentDefinitionJsonSchema } from '../segments/segment-schema';
import { scenarioDefinitionJsonSchema } from './scenario-schema';

const committed = join(__dirname, '../../../docs/scenario.schema.json');
const expected = `${JSON.stringify(scenarioDefinitionJsonSchema, null, 2)}\n`;
const defsOf = (schema: Record<string, unknown>) => (schema as { $defs: Record<string, unknown> }).$defs;

describe('docs/scenario.schema.json', () => {
  it('is the JSON Schema the code publishes (regenerate with UPDATE_SCENARIO_SCHEMA=1 npx jest scenario-schema)', () => {
    if (process.env.UPDATE_SCENARIO_SCHEMA === '1') writeFileSync(committed, expected);
    expect(readFileSync(committed, 'utf8')).toBe(expected);
  });

  it('names its parts', () => {
    expect(Object.keys(defsOf(scenarioDefinitionJsonSchema)).sort()).toEqual([
      'BranchCondition',
      'Condition',
      'Count',
      'Duration',
      'EntryRules',
      'Goal',
      'IsoDate',
      'PerformedCondition',
      'PropertyFilter',
      'RelativeDate',
      'SegmentId',
      'Send',
      'Step',
      'StepId',
      'TemplateId',
      'TimeOfDay',
      'TraitCondition',
      'Trigger',
      'TriggerCondition',
      'Variant',
    ]);
    expect(scenarioDefinitionJsonSchema).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      additionalProperties: false,
      required: ['id', 'name', 'trigger', 'steps'],
    });
  });

  it('describes conditions and property filters exactly as the segment schema does', () => {
    const segment = defsOf(segmentDefinitionJsonSchema);
    const scenario = defsOf(scenarioDefinitionJsonSchema);
    for (const name of ['Condition', 'PropertyFilter', 'TraitCondition', 'PerformedCondition', 'Count', 'Duration', 'IsoDate', 'RelativeDate']) {
      expect([name, scenario[name]]).toEqual([name, segment[name]]);
    }
  });
});
