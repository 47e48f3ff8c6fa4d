import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DurationError, exceedsMaximum, formatDuration, MAX_TIMER_MS, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it('parses single and compound units into milliseconds', () => {
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('2s'), 2000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('0s'), 0);
  });

  it('rejects what is not a duration, saying what was expected', () => {
    for (const bad of ['', '10', 's', '1 s', '-1s', '1d', '1s ', 'fast']) {
      assert.throws(() => parseDuration(bad), (err: unknown) => err instanceof DurationError && /expected a number with a unit/.test(err.message), bad);
    }
  });

  it('formats milliseconds for people', () => {
    assert.equal(formatDuration(250), '250ms');
    assert.equal(formatDuration(1500), '1.5s');
    assert.equal(formatDuration(300_000), '5m');
  });

  it('names a value above a maximum, and MAX_TIMER_MS is the largest delay a Node timer keeps', () => {
    assert.equal(exceedsMaximum('600h', parseDuration('600h'), 86_400_000), '"600h" is longer than the maximum of 24h');
    assert.equal(exceedsMaximum('24h', parseDuration('24h'), 86_400_000), undefined);
    assert.equal(MAX_TIMER_MS, 2_147_483_647);
  });
});
