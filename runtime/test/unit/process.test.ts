import { describe, expect, it } from 'vitest';
import type { CreateOptions } from '../../src/container/options.js';
import { checkWorkingDir, processOf } from '../../src/container/process.js';

const image: CreateOptions['image'] = {
  layers: ['/l'],
  config: { entrypoint: ['/bin/app'], cmd: ['serve'], env: ['PORT=1', 'A=b'], workingDir: '/app', user: '' },
};

describe("a container's process", () => {
  it('runs the image command with $PORT replaced, env added and a default PATH', () => {
    expect(processOf({ image, port: 8080, env: { X: 'y' } })).toEqual({
      args: ['/bin/app', 'serve'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=b', 'PORT=8080', 'X=y'],
      cwd: '/app',
      user: '',
    });
  });

  it('takes args and user from the create options over the image', () => {
    const p = processOf({ image, port: 80, args: ['/bin/other'], user: '1000:1000' });
    expect([p.args, p.user]).toEqual([['/bin/other'], '1000:1000']);
  });

  it('refuses an image with nothing to run', () => {
    const empty = { ...image, config: { ...image.config, entrypoint: [], cmd: [] } };
    expect(() => processOf({ image: empty, port: 80 })).toThrow(/no Entrypoint or Cmd/);
  });

  it('refuses working directories that are relative or inside /proc, /sys or /dev', () => {
    expect(checkWorkingDir('')).toBe('/');
    expect(checkWorkingDir('/app/./x')).toBe('/app/x');
    expect(() => checkWorkingDir('app')).toThrow(/not an absolute path/);
    expect(() => checkWorkingDir('/app/../proc')).toThrow(/not an absolute path/);
    expect(() => checkWorkingDir('/proc/self/fd/7')).toThrow(/refused/);
  });
});
