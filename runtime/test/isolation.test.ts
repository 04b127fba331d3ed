import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES } from '../src/container/spec/spec.js';
import {
  type Container,
  ImageStore,
  Runtime,
  type StoredImage,
  scratchRuntimeOptions,
} from '../src/index.js';
import { type LayerEntry, writeImageArchive } from '../src/testimages/index.js';
import { leftovers } from './leftovers.js';

const opts = scratchRuntimeOptions('iso');
let runtime: Runtime;
let image: StoredImage;

// A CGI script run by busybox httpd inside the container: each case makes one call the
// container should not be allowed, and reports busybox's message and the exit code. The
// script is a child of the container's init, so it runs under the same seccomp filter,
// capability sets, masks and pids cgroup as the function would.
const probe = `#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
exec 2>&1
case "$QUERY_STRING" in
  unshare-user) unshare -U true ;;
  mount) mount -t tmpfs none /mnt ;;
  swapoff) swapoff /tmp ;;
  reboot) reboot -f ;;
  nsenter) nsenter -t 1 -n true ;;
  init-status) cat /proc/1/status ;;
  mask:*)
    p="\${QUERY_STRING#mask:}"
    if [ ! -e "$p" ]; then echo absent
    elif [ -d "$p" ]; then stat -f -c '%T' "$p"; ls -A "$p"
    else stat -c '%F %t:%T' "$p" && wc -c < "$p"; fi ;;
  proc-sys) echo 3 > /proc/sys/vm/drop_caches ;;
  fork-past)
    # The inner shell starts sleepers until a fork fails, which ends it (or, with no limit in
    # force, until 100); the sleepers are then killed with builtins only, as there may be no
    # pid left to fork a command with.
    : > /tmp/kids
    sh -c 'i=0; while [ $i -lt 100 ]; do sleep 60 & echo $! >> /tmp/kids; i=$((i + 1)); done'
    echo "inner exit=$?"
    n=0
    while read -r kid; do kill -9 "$kid"; n=$((n + 1)); done < /tmp/kids
    echo "started=$n"
    ;;
  *) echo "unknown probe"; false ;;
esac
echo "exit=$?"
`;

const applets = [
  'sh',
  'true',
  'unshare',
  'mount',
  'swapoff',
  'reboot',
  'nsenter',
  'cat',
  'stat',
  'wc',
  'ls',
  'sleep',
];
const layer: LayerEntry[] = [
  { path: 'bin', type: 'dir', mode: 0o755 },
  { path: 'bin/busybox', type: 'file', mode: 0o755, source: realpathSync('/bin/busybox') },
  ...applets.map((a): LayerEntry => ({ path: `bin/${a}`, type: 'symlink', target: 'busybox' })),
  { path: 'tmp', type: 'dir', mode: 0o1777 },
  { path: 'mnt', type: 'dir', mode: 0o755 },
  { path: 'www', type: 'dir', mode: 0o755 },
  { path: 'www/cgi-bin', type: 'dir', mode: 0o755 },
  { path: 'www/cgi-bin/probe', type: 'file', mode: 0o755, content: probe },
];

// Linux capability numbers, include/uapi/linux/capability.h.
const CAP_BITS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

async function run(c: Container, name: string): Promise<string> {
  const res = await fetch(`http://${c.ip}:${c.port}/cgi-bin/probe?${name}`, {
    signal: AbortSignal.timeout(20_000),
  });
  expect(res.status).toBe(200);
  return await res.text();
}

/** The OCI spec runc started the container with, as written in its bundle. */
function spec(c: Container): {
  process: { capabilities: { bounding: string[] } };
  linux: { maskedPaths: string[] };
} {
  return JSON.parse(readFileSync(join(c.bundle, 'config.json'), 'utf8'));
}

function cgroupFile(c: Container, file: string): string {
  const dir =
    runtime.cgroups.kind === 'v1'
      ? join('/sys/fs/cgroup/pids', opts.cgroupParent, c.id)
      : join('/sys/fs/cgroup', opts.cgroupParent, c.id);
  return readFileSync(join(dir, file), 'utf8').trim();
}

beforeAll(async () => {
  const built = await writeImageArchive(
    {
      layers: [{ entries: layer }],
      config: {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, run inside the container
        Entrypoint: ['/bin/sh', '-c', 'exec /bin/busybox httpd -f -p 0.0.0.0:${PORT} -h /www'],
        Env: ['PATH=/bin'],
      },
    },
    'oci',
    join(opts.stateDir, 'archives', 'probe.tar'),
  );
  image = await new ImageStore(join(opts.stateDir, 'images')).importArchive(built.path);
  ({ runtime } = await Runtime.open(opts));
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  if (runtime) expect(await leftovers(runtime, opts, 'closed')).toEqual([]);
  await rm(opts.stateDir, { recursive: true, force: true });
  await rm(opts.runDir, { recursive: true, force: true });
});

describe('isolation', () => {
  let c: Container;
  beforeAll(async () => {
    c = await runtime.create({ image, port: 8080, pidsLimit: 24 });
  });
  afterAll(async () => {
    await c?.destroy();
    expect(await leftovers(runtime, opts, 'open')).toEqual([]);
  });

  it('seccomp answers EPERM to a call no capability stands in front of: unshare(CLONE_NEWUSER)', async () => {
    // Outside any container the same command works on this kernel: user namespaces need no
    // privilege, so inside it is the filter that says no.
    execFileSync('/bin/busybox', ['unshare', '-U', '/bin/busybox', 'true']);
    expect(await run(c, 'unshare-user')).toBe(
      'unshare: unshare(0x10000000): Operation not permitted\nexit=1\n',
    );
  });

  // These need a capability the container lacks as well; seccomp is the second wall.
  it.each([
    ['mount', /^mount: permission denied \(are you root\?\)\nexit=1\n$/],
    ['swapoff', /^swapoff: \/tmp: Operation not permitted\nexit=1\n$/],
    ['reboot', /^reboot: .*Operation not permitted\nexit=1\n$/],
    [
      'nsenter',
      /^nsenter: setns\(\): can't reassociate to namespace 'net': Operation not permitted\nexit=1\n$/,
    ],
  ])('denies %s with EPERM', async (name, output) => {
    expect(await run(c, name)).toMatch(output);
  });

  it('bounds the init process to the spec’s capabilities and no more', async () => {
    const mask = DEFAULT_CAPABILITIES.reduce((m, cap) => {
      const bit = CAP_BITS.indexOf(cap);
      if (bit < 0) throw new Error(`no bit known for ${cap}`);
      return m | (1n << BigInt(bit));
    }, 0n);
    const hex = mask.toString(16).padStart(16, '0');
    const status = Object.fromEntries(
      (await run(c, 'init-status'))
        .split('\n')
        .map((l) => l.split(':\t'))
        .filter((kv): kv is [string, string] => kv.length === 2)
        .map(([k, v]) => [k, v.trim()]),
    );
    // PID 1 is the init the runtime mounts at /.thaw/init (tini), bound like every process of
    // the container; the function is its child.
    expect(status).toMatchObject({
      Name: 'init',
      CapBnd: hex,
      CapEff: hex,
      CapPrm: hex,
      CapInh: '0'.repeat(16),
    });
    // The list the spec gave runc is that same list.
    expect(spec(c).process.capabilities.bounding).toEqual(DEFAULT_CAPABILITIES);
  });

  it('masks what the spec masks (/proc/kcore among them) and keeps /proc/sys read-only', async () => {
    const masked = spec(c).linux.maskedPaths;
    // runc's and containerd's defaults, at least.
    expect(masked).toEqual(
      expect.arrayContaining([
        '/proc/kcore',
        '/proc/keys',
        '/proc/timer_list',
        '/proc/acpi',
        '/sys/firmware',
      ]),
    );
    for (const path of masked) {
      const seen = await run(c, `mask:${path}`);
      // The container's /proc and /sys show the host kernel's files: what this kernel lacks
      // (it has no /proc/kcore) is absent inside too, and has nothing to mask.
      if (!existsSync(path)) expect(seen, path).toBe('absent\nexit=0\n');
      // A masked file is the null device, empty; a masked directory an empty read-only tmpfs.
      else if (statSync(path).isDirectory()) expect(seen, path).toBe('tmpfs\nexit=0\n');
      else expect(seen, path).toBe('character special file 1:3\n0\nexit=0\n');
    }
    // Masks shown on files this host has: a kernel with neither would make this test vacuous.
    expect(masked.filter((p) => existsSync(p) && !statSync(p).isDirectory()).length).toBeGreaterThan(0);
    expect(existsSync('/proc/sys/vm/drop_caches')).toBe(true);
    expect(await run(c, 'proc-sys')).toMatch(
      /^probe: line \d+: can't create \/proc\/sys\/vm\/drop_caches: Read-only file system\nexit=1\n$/,
    );
  });

  it('stops forks at the pids limit, and the container serves on afterwards', async () => {
    const maxBefore = Number(/^max (\d+)$/m.exec(cgroupFile(c, 'pids.events'))?.[1] ?? 'NaN');
    const out = await run(c, 'fork-past');
    expect(out).toMatch(
      /^sh: can't fork: Resource temporarily unavailable\ninner exit=2\nstarted=\d+\nexit=0\n$/,
    );
    const started = Number(/started=(\d+)/.exec(out)?.[1]);
    // The init, httpd, its connection child, the CGI script and the inner shell hold five of the 24.
    expect(started).toBeGreaterThan(10);
    expect(started).toBeLessThanOrEqual(19);
    expect(Number(/^max (\d+)$/m.exec(cgroupFile(c, 'pids.events'))?.[1])).toBeGreaterThan(maxBefore);
    expect(cgroupFile(c, 'pids.max')).toBe('24');
    // The killed sleepers are reaped and their pids returned, leaving the init and httpd: the
    // container is usable again.
    const deadline = Date.now() + 10_000;
    while (Number(cgroupFile(c, 'pids.current')) > 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(Number(cgroupFile(c, 'pids.current'))).toBeLessThanOrEqual(2);
    expect(await run(c, 'mask:/proc/timer_list')).toBe('character special file 1:3\n0\nexit=0\n');
  });
});
