import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

export interface GatewayProcess {
  child: ChildProcess;
  port: number;
  url: string;
}

/** Starts the built gateway (dist/main.js) as its own process and waits for its "ready" message. */
export async function startGatewayProcess(env: Record<string, string>): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      THAW_ADMIN_TOKEN: 'gateway-process-test-token-0123456789',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const [message] = (await once(child, 'message')) as [{ url: string }];
  const url = message.url.replace('0.0.0.0', '127.0.0.1');
  return { child, port: Number(new URL(url).port), url };
}

/** SIGTERM, then the exit: how long it took and the exit code (null when a signal killed it). */
export async function exitAfterTerm(child: ChildProcess): Promise<{ ms: number; code: number | null }> {
  const started = Date.now();
  const exited = once(child, 'exit') as Promise<[number | null]>;
  child.kill('SIGTERM');
  const timeout = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const [code] = await exited;
  clearTimeout(timeout);
  return { ms: Date.now() - started, code };
}
