#!/usr/bin/env node
// Sums the vitest JSON reports in a folder into CI's closing line, "N passed, M failed".
// A test file that failed without a failed test (an import error, a throwing beforeAll whose
// tests never ran) counts as one failure, so a broken file can never look like a green run.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '.test-results';
let passed = 0;
let failed = 0;
let files;
try {
  files = readdirSync(dir).filter((f) => f.endsWith('.json'));
} catch {
  files = [];
}
for (const file of files) {
  const report = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  for (const result of report.testResults) {
    const failedTests = result.assertionResults.filter((a) => a.status === 'failed').length;
    if (result.status === 'failed' && failedTests === 0) failed += 1;
  }
}
console.log(`${passed} passed, ${failed} failed`);
