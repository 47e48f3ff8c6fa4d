import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { GENERATED_FILE, generateValidators } from './generate-validators.ts';

it('the precompiled validators match the schema sources (run `npm run generate` after a schema change)', () => {
  assert.ok(readFileSync(GENERATED_FILE, 'utf8') === generateValidators(), 'api/generated/validators.ts is stale');
});
