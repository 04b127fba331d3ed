import type { FunctionRecord, Trigger } from '@thaw/shared';

/**
 * A function record carrying `triggers` as given: not parsed, so a test can hand the run-time
 * checks a trigger the deploy-time schema would refuse.
 */
export function triggerRecord(name: string, triggers: Trigger[], asyncConcurrency = 4): FunctionRecord {
  return {
    name,
    image: `sha256:${'0'.repeat(64)}`,
    triggers,
    timeoutMs: 2000,
    asyncConcurrency,
    revision: 1,
    status: 'ready',
    createdAt: '',
    updatedAt: '',
  } as FunctionRecord;
}
