// What the page reads from the API (the parts it shows); @thaw/shared holds the full schemas.

export type InstanceState = 'running' | 'frozen';

export interface Instance {
  id: string;
  state: InstanceState;
  busy: number;
  revision: number;
  memoryMiB?: number;
}

export interface FunctionRecord {
  name: string;
  image: string;
  imageDigest?: string;
  revision: number;
  status: 'pulling' | 'ready' | 'failed';
  reason?: string;
  env: Record<string, string>;
  memoryMiB: number;
  timeoutMs: number;
  minInstances: number;
  maxInstances: number;
  concurrency: number;
  createdAt: string;
  updatedAt: string;
  [field: string]: unknown;
}

export interface WorkerInstances {
  worker: string;
  draining: boolean;
  starting: number;
  instances: Instance[];
}

export interface FunctionView extends FunctionRecord {
  workers: WorkerInstances[];
}

export interface Worker {
  workerId: string;
  draining: boolean;
  memory: { budgetMiB: number; committedMiB: number };
  functions: { name: string; starting: number; instances: Instance[] }[];
  lastSeenMs: number;
}

export interface StatsPoint {
  t: string | number;
  calls: number;
  errors: number;
  cold: number;
  ratePerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface Stats {
  bucketSeconds: number;
  from: string | number;
  to: string | number;
  functions: Record<string, StatsPoint[]>;
}

export interface LogEntry {
  t: string;
  instance: string;
  revision?: number;
  stream: 'stdout' | 'stderr';
  line: string;
}
