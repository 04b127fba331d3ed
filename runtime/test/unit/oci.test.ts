import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createDrivers } from '../../src/container/drivers.js';
import { createOciRuntime, type OciCommands } from '../../src/container/oci/index.js';
import { CommandError } from '../../src/process/index.js';

/** Records every command line an OCI driver runs, and answers as `reply` says; nothing runs. */
function fakeCommands(reply: (argv: string[]) => string | Error = () => '') {
  const calls: string[][] = [];
  const answer = async (bin: string, args: readonly string[]) => {
    const argv = [bin, ...args];
    calls.push(argv);
    const out = reply(argv);
    if (out instanceof Error) throw out;
    return out;
  };
  const commands: OciCommands = {
    run: answer,
    runToFiles: async (bin, args) => {
      await answer(bin, args);
      return undefined;
    },
    runMeasured: async (bin, args) => ({ stdout: await answer(bin, args), cpuMs: undefined }),
    waitPidExit: async (pid) => {
      calls.push(['wait', String(pid)]);
      return true;
    },
    exists: () => true,
  };
  return { calls, commands };
}

const logs = { stdout: '/b/stdout.log', stderr: '/b/stderr.log' };

// crun is not installed on the CI host, and this host's hybrid cgroups are not what it is meant
// for: its driver is checked here by the command lines it would run, never by running it.
describe.each(['runc', 'crun'] as const)('the %s driver', (name) => {
  it('runs containers detached under its own root, with a pid file', async () => {
    const { calls, commands } = fakeCommands();
    const oci = createOciRuntime(name, { root: `/run/thaw/${name}`, commands });
    expect(oci.name).toBe(name);
    await oci.run('abc', '/b', '/b/pid', logs);
    expect(calls).toEqual([
      [
        name,
        '--root',
        `/run/thaw/${name}`,
        'run',
        '--detach',
        '--bundle',
        '/b',
        '--pid-file',
        '/b/pid',
        'abc',
      ],
    ]);
  });

  it('creates ahead (stdio to the logs, a pid file) and starts later', async () => {
    const { calls, commands } = fakeCommands();
    const oci = createOciRuntime(name, { root: '/r', commands });
    await oci.create('abc', '/b', '/b/pid', logs);
    await oci.start('abc');
    expect(calls).toEqual([
      [name, '--root', '/r', 'create', '--bundle', '/b', '--pid-file', '/b/pid', 'abc'],
      [name, '--root', '/r', 'start', 'abc'],
    ]);
  });

  it('kills, waits for the pid, then deletes by force', async () => {
    const { calls, commands } = fakeCommands();
    const oci = createOciRuntime(name, { root: '/r', bin: `/usr/sbin/${name}`, commands });
    await oci.delete('abc', 42);
    expect(calls).toEqual([
      [`/usr/sbin/${name}`, '--root', '/r', 'kill', 'abc', 'KILL'],
      ['wait', '42'],
      [`/usr/sbin/${name}`, '--root', '/r', 'delete', '--force', 'abc'],
    ]);
  });

  it('passes --systemd-cgroup before the verb when systemd manages the cgroups', async () => {
    const { calls, commands } = fakeCommands(() => 'a\nb\n');
    const oci = createOciRuntime(name, { root: '/r', systemdCgroup: true, commands });
    expect(await oci.list()).toEqual(['a', 'b']);
    expect(calls).toEqual([[name, '--root', '/r', '--systemd-cgroup', 'list', '--quiet']]);
  });

  it('lists nothing, and runs nothing, while its root does not exist', async () => {
    const { calls, commands } = fakeCommands();
    const oci = createOciRuntime(name, { root: '/r', commands: { ...commands, exists: () => false } });
    expect(await oci.list()).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('fails a delete for any reason but the container being gone', async () => {
    const gone =
      name === 'runc'
        ? 'container "abc" does not exist'
        : 'error opening file `/r/abc/status`: No such file or directory';
    const quiet = createOciRuntime(name, {
      root: '/r',
      commands: fakeCommands(() => new CommandError(`${name} delete`, gone)).commands,
    });
    await expect(quiet.delete('abc')).resolves.toBeUndefined();
    const loud = createOciRuntime(name, {
      root: '/r',
      commands: fakeCommands(() => new CommandError(`${name} delete`, 'permission denied')).commands,
    });
    await expect(loud.delete('abc')).rejects.toThrow(/permission denied/);
  });
});

it('refuses an OCI runtime it has no driver for', () => {
  expect(() => createOciRuntime('youki' as 'runc', { root: '/r' })).toThrow(/runc or crun/);
});

// crun does not run on a hybrid host (v1 controllers plus /sys/fs/cgroup/unified), as this one is.
it('refuses crun when the drivers are made on a hybrid cgroup host, naming runc; accepts runc', () => {
  const opts = {
    stateDir: '/nonexistent',
    runDir: '/nonexistent',
    cgroupParent: 'x',
    bridge: 'thx',
    subnet: '10.1.2.0/24',
  };
  const hybrid = existsSync('/sys/fs/cgroup/unified') && existsSync('/sys/fs/cgroup/freezer');
  const crun = () => createDrivers({ ...opts, ociRuntime: 'crun' });
  if (hybrid) expect(crun).toThrow(/hybrid cgroup host.*use runc/);
  else expect(crun().oci).toBeDefined();
  expect(createDrivers(opts).oci).toBeDefined();
});
