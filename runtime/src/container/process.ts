import { posix } from 'node:path';
import { ContainerStartError } from './errors.js';
import type { CreateOptions } from './options.js';
import type { ProcessSpec } from './spec/spec.js';

/** The PATH a process gets when its image sets none (Docker's default). */
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The working directory must be a plain absolute path outside the kernel's filesystems: runc
 * enters it before the process runs, and a cwd like /proc/self/fd/7 is how CVE-2024-21626
 * leaked a host directory into a container.
 */
export function checkWorkingDir(dir: string): string {
  if (!dir) return '/';
  const norm = posix.normalize(dir);
  if (!posix.isAbsolute(norm) || dir.split('/').includes('..')) {
    throw new ContainerStartError(`the image's WorkingDir "${dir}" is not an absolute path`, '');
  }
  if (/^\/(proc|sys|dev)(\/|$)/.test(norm)) {
    throw new ContainerStartError(
      `the image's WorkingDir "${dir}" is inside /proc, /sys or /dev; refused`,
      '',
    );
  }
  return norm;
}

/**
 * The process a container runs: the image's command (or `args`), its environment with $PORT
 * set and `env` added, its working directory checked, and its user.
 */
export function processOf(o: CreateOptions): ProcessSpec {
  const cfg = o.image.config;
  const cwd = checkWorkingDir(cfg.workingDir);
  const env = [...cfg.env.filter((e) => !e.startsWith('PORT=')), `PORT=${o.port}`];
  for (const [k, v] of Object.entries(o.env ?? {})) env.push(`${k}=${v}`);
  const args = o.args ?? [...cfg.entrypoint, ...cfg.cmd];
  if (args.length === 0) throw new ContainerStartError('the image has no Entrypoint or Cmd to run', '');
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH);
  return { args, env, cwd, user: o.user ?? cfg.user };
}
