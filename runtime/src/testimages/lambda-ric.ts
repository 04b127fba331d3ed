import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The AWS Lambda Runtime Interface Client for Node, pinned: 3.x runs on Node 20 (4.x needs 22).
 * Its native part (aws-lambda-cpp with a static curl) is built from source on install.
 */
export const LAMBDA_RIC_VERSION = '3.3.0';

/** Where it is installed once per machine: the repository's git-ignored cache. */
export const LAMBDA_RIC_CACHE = fileURLToPath(new URL('../../../.cache/lambda-ric/', import.meta.url));

/** The native build takes minutes (about 3 on two busy cores). */
export const LAMBDA_RIC_INSTALL_TIMEOUT_MS = 15 * 60_000;

/** The installed package's folder (bin/, dist/ with rapid-client.node, package.json). */
export function lambdaRicPackage(cache = LAMBDA_RIC_CACHE): string {
  return join(cache, LAMBDA_RIC_VERSION, 'node_modules', 'aws-lambda-ric');
}

/**
 * `npm install` of the package into `dir`. Its stdin is closed: with a pipe left open (as
 * execFile leaves it) the install waited on it, silent, until killed.
 */
function npmInstall(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = [
      'install',
      '--prefix',
      dir,
      `aws-lambda-ric@${LAMBDA_RIC_VERSION}`,
      '--no-save',
      '--no-audit',
      '--no-fund',
    ];
    const child = spawn('npm', args, {
      cwd: dir,
      env: { ...process.env, npm_config_nodedir: dirname(dirname(process.execPath)) },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: LAMBDA_RIC_INSTALL_TIMEOUT_MS,
    });
    let out = '';
    const keep = (d: Buffer) => {
      out = (out + d.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`npm install aws-lambda-ric failed (${signal ?? `exit ${code}`}): ${out}`));
    });
  });
}

/**
 * Installs aws-lambda-ric into the cache unless it is there. It is kept out of the workspace's
 * package files: only the Lambda test image uses it, and its install builds C++ for minutes.
 * node-gyp is pointed at this node's own headers, so nothing is downloaded but the package.
 * Installs into a folder of its own, then renames it into place: two test files that race
 * leave one whole copy.
 */
export async function ensureLambdaRic(cache = LAMBDA_RIC_CACHE): Promise<string> {
  const pkg = lambdaRicPackage(cache);
  if (existsSync(join(pkg, 'dist', 'rapid-client.node'))) return pkg;
  const final = join(cache, LAMBDA_RIC_VERSION);
  const tmp = `${final}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    await npmInstall(tmp);
    if (!existsSync(join(tmp, 'node_modules', 'aws-lambda-ric', 'dist', 'rapid-client.node'))) {
      throw new Error('aws-lambda-ric installed without its native part (dist/rapid-client.node)');
    }
    await rename(tmp, final).catch(async (err: NodeJS.ErrnoException) => {
      // Another process put its copy in place first: that one is as good.
      if (!existsSync(join(pkg, 'dist', 'rapid-client.node'))) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return pkg;
}

// `node runtime/dist/testimages/lambda-ric.js` installs it ahead (infra/setup.sh, CI).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  const pkg = await ensureLambdaRic();
  console.log(
    `aws-lambda-ric ${LAMBDA_RIC_VERSION} at ${pkg} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
}
