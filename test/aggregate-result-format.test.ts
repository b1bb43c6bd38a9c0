/** Issue 12 item 6: `aggregate analyst --format table|csv|json` (formatAggregateResult). */
import { describe, expect, it } from 'vitest';
import { formatAggregateResult, type AggregateResult } from '../src/protocols/aggregate/result.js';
import { assertBuilt, expectOneLineError, runCli } from './cli-helpers.js';

const result: AggregateResult = {
  queryId: 'q1',
  contributors: 3,
  expectedProviders: 3,
  groups: [
    { group: 'cardiology', withheld: false, statistics: [
      { type: 'count', value: '12' },
      { type: 'sum', column: 'cost', value: '1234.50' },
      { type: 'mean', column: 'cost', value: null },
      { type: 'histogram', column: 'age', bins: ['0-40', '40+'], counts: ['5', '7'] },
    ] },
    { group: '=HYPERLINK("x"),east', withheld: false, statistics: [{ type: 'count', value: '-3' }] },
    { group: 'rare', withheld: true, reason: 'below the minimum cohort of 10' },
  ],
  guardrails: { minCohort: 10, withheldGroups: 1, minCohortOnNoisyCounts: false, dp: null },
};

describe('formatAggregateResult', () => {
  it('csv: one row per value, histogram bins and withheld groups as rows, quoted and formula-safe', () => {
    expect(formatAggregateResult(result, 'csv')).toBe(
      [
        'group,statistic,column,bin,value',
        'cardiology,count,,,12',
        'cardiology,sum,cost,,1234.50',
        'cardiology,mean,cost,,',
        'cardiology,histogram,age,0-40,5',
        'cardiology,histogram,age,40+,7',
        `"'=HYPERLINK(""x""),east",count,,,'-3`,
        'rare,withheld,,,below the minimum cohort of 10',
      ].join('\r\n') + '\r\n',
    );
  });

  it('table: the same rows aligned; json: the full result as before', () => {
    const lines = formatAggregateResult(result, 'table').trimEnd().split('\n');
    expect(lines[0]).toMatch(/^group\s+statistic\s+column\s+bin\s+value$/);
    expect(lines).toHaveLength(8);
    expect(lines[2]).toMatch(/^cardiology\s+sum\s+cost\s+1234\.50$/);
    expect(JSON.parse(formatAggregateResult(result, 'json'))).toEqual(result);
    expect(() => formatAggregateResult(result, 'xml' as 'csv')).toThrow(RangeError);
  });

  it('the CLI refuses an unknown --format before connecting', async () => {
    assertBuilt();
    const r = await runCli(['aggregate', 'analyst', '--connect', 'ws://127.0.0.1:9', '--query', 'q.json', '--output', 'o', '--format', 'xml', '--identity', 'x', '--peer-key', 'y']);
    expect(r.code).not.toBe(0);
    expectOneLineError(r.stderr, /--format/);
  });
});
