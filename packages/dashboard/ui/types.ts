// What the page reads from the API: the generated client's types of it (the OpenAPI document),
// so a change of the API that breaks the page breaks its build.
import type { components } from '@thaw/client';

type Schemas = components['schemas'];

export type FunctionRecord = Schemas['FunctionRecord'];
export type FunctionView = Schemas['FunctionView'];
export type WorkerInstances = FunctionView['workers'][number];
export type Worker = Schemas['WorkerHeartbeat'];
export type Instance = Worker['functions'][number]['instances'][number];
export type InstanceState = Instance['state'];
export type Stats = Schemas['CallStats'];
export type StatsPoint = Stats['functions'][string][number];

/** One line of GET /v1/functions/:name/logs?format=json (NDJSON, not in the document's schemas). */
export interface LogEntry {
  t: string;
  instance: string;
  revision?: number;
  stream: 'stdout' | 'stderr';
  line: string;
}
