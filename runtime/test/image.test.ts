import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ImageDigestMismatchError,
  ImageInvalidError,
  ImageStore,
  UnsafeLayerEntryError,
} from '../src/index.js';
import { buildTestImage, writeImageArchive } from '../src/testimages/index.js';

type TarEntry = {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  body?: string | Buffer;
  linkname?: string;
  mode?: number;
};

async function tar(entries: TarEntry[]): Promise<Buffer> {
  const p = pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const mode = e.mode ?? (type === 'directory' ? 0o755 : 0o644);
    const header = {
      name: e.name,
      type,
      mode,
      mtime: new Date(0),
      ...(e.linkname ? { linkname: e.linkname } : {}),
    };
    if (type === 'file') p.entry(header, e.body ?? '');
    else p.entry(header);
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** An OCI image-layout archive around raw layer blobs; `diffIds` may lie on purpose. */
async function ociArchive(
  layers: Buffer[],
  o: { diffIds?: string[]; tamper?: boolean; platform?: { os: string; architecture: string } } = {},
): Promise<Buffer> {
  const diffIds = o.diffIds ?? layers.map((l) => `sha256:${sha(l[0] === 0x1f ? gunzipSync(l) : l)}`);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/true'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const layerDescs = layers.map((l) => ({
    mediaType: 'application/vnd.oci.image.layer.v1.tar',
    digest: `sha256:${sha(l)}`,
    size: l.length,
  }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `sha256:${sha(config)}`,
        size: config.length,
      },
      layers: layerDescs,
    }),
  );
  const index = JSON.stringify({
    schemaVersion: 2,
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `sha256:${sha(manifest)}`,
        size: manifest.length,
        ...(o.platform ? { platform: o.platform } : {}),
      },
    ],
  });
  const blobs: TarEntry[] = [config, manifest, ...layers].map((b, i) => ({
    name: `blobs/sha256/${sha(b)}`,
    body: o.tamper && i === 2 ? Buffer.concat([b.subarray(0, b.length - 1), Buffer.from('x')]) : b,
  }));
  return await tar([
    ...blobs,
    { name: 'index.json', body: index },
    { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
  ]);
}

let dir: string;
let store: ImageStore;
let sentinel: string;

async function importBuffer(buf: Buffer) {
  const f = join(dir, `in-${Math.random().toString(16).slice(2)}.tar`);
  await writeFile(f, buf);
  return await store.importArchive(f);
}

function untouched() {
  expect(readdirSync(sentinel)).toEqual(['keep']);
  expect(readFileSync(join(sentinel, 'keep'), 'utf8')).toBe('original');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'thaw-image-'));
  store = new ImageStore(join(dir, 'store'));
  sentinel = join(dir, 'sentinel');
  await mkdir(sentinel);
  await writeFile(join(sentinel, 'keep'), 'original');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('test images', () => {
  it('are built deterministically, in both formats, and import to the same content', async () => {
    const a = await buildTestImage('node-hello', 'oci', join(dir, 'a'));
    const b = await buildTestImage('node-hello', 'oci', join(dir, 'b'));
    expect(sha(await readFile(a.path))).toBe(sha(await readFile(b.path)));
    expect(a.digest).toBe(b.digest);
    const d1 = await buildTestImage('node-hello', 'docker-archive', join(dir, 'a'));
    const d2 = await buildTestImage('node-hello', 'docker-archive', join(dir, 'b'));
    expect(sha(await readFile(d1.path))).toBe(sha(await readFile(d2.path)));

    const oci = await store.importArchive(a.path);
    const docker = await store.importArchive(d1.path);
    expect(oci.digest).toBe(a.digest);
    expect(docker.digest).toBe(d1.digest);
    expect(docker.config).toEqual(oci.config);
    // Same diffIDs → the very same unpacked layer directories.
    expect(docker.layers).toEqual(oci.layers);
    const base = oci.layers[0] as string;
    expect(lstatSync(join(base, 'usr/local/bin/node')).mode & 0o111).toBeTruthy();
    expect(existsSync(join(base, 'lib64/ld-linux-x86-64.so.2'))).toBe(true);
    expect(readFileSync(join(oci.layers[1] as string, 'app/server.mjs'), 'utf8')).toContain('createServer');
  });

  it('imports the same image twice at once', async () => {
    const img = await buildTestImage('busybox-httpd', 'docker-archive', join(dir, 'c'));
    const [x, y] = await Promise.all([store.importArchive(img.path), store.importArchive(img.path)]);
    expect(x.digest).toBe(img.digest);
    expect(y).toEqual(x);
    expect(await store.get(img.digest)).toEqual(x);
  });

  it('reads gzip layers', async () => {
    const out = await writeImageArchive(
      {
        layers: [{ entries: [{ path: 'hello.txt', type: 'file', mode: 0o600, content: 'gz' }], gzip: true }],
        config: {},
      },
      'oci',
      join(dir, 'gz.tar'),
    );
    const img = await store.importArchive(out.path);
    const f = join(img.layers[0] as string, 'hello.txt');
    expect(readFileSync(f, 'utf8')).toBe('gz');
    expect(lstatSync(f).mode & 0o777).toBe(0o600);
  });
});

describe('garbage collection', () => {
  it('removes unreferenced images with the layers and blobs only they used', async () => {
    const gcStore = new ImageStore(join(dir, 'gc'));
    const a = await gcStore.importArchive(
      (await buildTestImage('busybox-httpd', 'oci', join(dir, 'gc-in'))).path,
    );
    const b = await gcStore.importArchive(
      (
        await writeImageArchive(
          {
            layers: [{ entries: [{ path: 'only-b', type: 'file', mode: 0o644, content: 'b' }] }],
            config: {},
          },
          'oci',
          join(dir, 'gc-in', 'b.tar'),
        )
      ).path,
    );
    const removed = await gcStore.gc([a.digest]);
    expect(removed.images).toEqual([b.digest]);
    expect(removed.layers).toHaveLength(1);
    expect(existsSync(b.layers[0] as string)).toBe(false);
    expect(existsSync(a.layers[0] as string)).toBe(true);
    expect(await gcStore.get(a.digest)).toEqual(a);
    expect(await gcStore.get(b.digest)).toBeUndefined();
    expect(await gcStore.gc([a.digest])).toEqual({ images: [], layers: [], blobs: [] });
  });
});

describe('image verification', () => {
  it('refuses something that is not a tar', async () => {
    await expect(importBuffer(Buffer.from('hello, not a tar'))).rejects.toBeInstanceOf(ImageInvalidError);
  });

  it('refuses a blob whose bytes do not match its digest', async () => {
    const layer = await tar([{ name: 'a', body: 'content' }]);
    await expect(importBuffer(await ociArchive([layer], { tamper: true }))).rejects.toBeInstanceOf(
      ImageDigestMismatchError,
    );
  });

  it('refuses a layer whose diffID does not match the config', async () => {
    const layer = await tar([{ name: 'a', body: 'content' }]);
    const err = await importBuffer(
      await ociArchive([layer], { diffIds: [`sha256:${'0'.repeat(64)}`] }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageDigestMismatchError);
    expect((err as Error).message).toMatch(/diffID mismatch/);
  });
});

/** A legacy `docker save` archive: <id>/layer.tar files, a repeated layer stored as a symlink. */
async function legacyDockerArchive(layer: Buffer, secondLink: string): Promise<Buffer> {
  const diff = `sha256:${sha(layer)}`;
  const config = Buffer.from(
    JSON.stringify({ config: { Cmd: ['/bin/true'] }, rootfs: { type: 'layers', diff_ids: [diff, diff] } }),
  );
  const manifest = JSON.stringify([
    { Config: `${sha(config)}.json`, RepoTags: ['old:1'], Layers: ['aaa/layer.tar', 'bbb/layer.tar'] },
  ]);
  return await tar([
    { name: `${sha(config)}.json`, body: config },
    { name: 'aaa/', type: 'directory' },
    { name: 'aaa/layer.tar', body: layer },
    { name: 'bbb/', type: 'directory' },
    { name: 'bbb/layer.tar', type: 'symlink', linkname: secondLink },
    { name: 'manifest.json', body: manifest },
  ]);
}

describe('archive formats', () => {
  it('reads a legacy docker save with a repeated layer stored as a symlink', async () => {
    const layer = await tar([{ name: 'etc/hello', body: 'legacy' }]);
    const img = await importBuffer(await legacyDockerArchive(layer, '../aaa/layer.tar'));
    expect(img.layers).toHaveLength(2);
    expect(img.layers[0]).toBe(img.layers[1]);
    expect(readFileSync(join(img.layers[0] as string, 'etc/hello'), 'utf8')).toBe('legacy');
  });

  it('refuses a layer stored as a symlink that leaves the archive', async () => {
    const layer = await tar([{ name: 'etc/hello', body: 'legacy' }]);
    const err = await importBuffer(await legacyDockerArchive(layer, '../../../etc/passwd')).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ImageInvalidError);
    expect((err as Error).message).toMatch(/leaves the archive/);
  });

  it('refuses manifest paths with ..', async () => {
    const bad = await tar([
      { name: 'manifest.json', body: JSON.stringify([{ Config: '../c.json', Layers: [] }]) },
    ]);
    await expect(importBuffer(bad)).rejects.toThrow(/not allowed/);
  });

  it('reads zstd layers', async () => {
    const layer = await tar([{ name: 'z.txt', body: 'zstd layer' }]);
    const zst = execFileSync('zstd', ['-q', '-c'], { input: layer });
    const img = await importBuffer(await ociArchive([zst], { diffIds: [`sha256:${sha(layer)}`] }));
    expect(readFileSync(join(img.layers[0] as string, 'z.txt'), 'utf8')).toBe('zstd layer');
  });
});

describe('safe unpacking', () => {
  const cases: [string, TarEntry[], RegExp][] = [
    ['a ../ entry', [{ name: '../../escape', body: 'x' }], /contains "\.\."/],
    ['an absolute entry', [{ name: '/etc/evil', body: 'x' }], /absolute/],
    [
      'a write through a symlink to an outside directory',
      [
        { name: 'link', type: 'symlink', linkname: '' },
        { name: 'link/pwned', body: 'x' },
      ],
      /symlink/,
    ],
    [
      'a write through a symlink to /',
      [
        { name: 'root', type: 'symlink', linkname: '/' },
        { name: 'root/tmp/pwned', body: 'x' },
      ],
      /symlink/,
    ],
    ['a hardlink to /etc/shadow', [{ name: 'shadow', type: 'link', linkname: '/etc/shadow' }], /absolute/],
    ['a hardlink to ../', [{ name: 'up', type: 'link', linkname: '../../etc/passwd' }], /\.\./],
    ['a whiteout named .wh..', [{ name: 'dir/.wh..', body: '' }], /invalid whiteout/],
    ['a bare .wh.', [{ name: 'dir/.wh.', body: '' }], /invalid whiteout/],
    [
      'a whiteout through a symlinked parent',
      [
        { name: 'link', type: 'symlink', linkname: '' },
        { name: 'link/.wh.keep', body: '' },
      ],
      /symlink/,
    ],
    [
      'a hardlink through a symlink',
      [
        { name: 'link', type: 'symlink', linkname: '' },
        { name: 'hard', type: 'link', linkname: 'link/keep' },
      ],
      /symlink/,
    ],
  ];
  it.each(cases)('refuses %s and writes nothing outside', async (_what, entries, message) => {
    // Symlinks aimed at the sentinel folder itself, where a write would show.
    const fixed = entries.map((e) =>
      e.type === 'symlink' && e.linkname === '' ? { ...e, linkname: sentinel } : e,
    );
    const err = await importBuffer(await ociArchive([await tar(fixed)])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsafeLayerEntryError);
    expect((err as Error).message).toMatch(message);
    untouched();
    expect(existsSync('/tmp/pwned')).toBe(false);
  });

  it('keeps a later layer inside its own root when an earlier layer has a symlink at the same path', async () => {
    const first = await tar([{ name: 'link', type: 'symlink', linkname: sentinel }]);
    const second = await tar([
      { name: 'link/', type: 'directory' },
      { name: 'link/pwned', body: 'x' },
    ]);
    const img = await importBuffer(await ociArchive([first, second]));
    // Each layer is unpacked on its own: the second gets a real directory, overlayfs puts it
    // above the symlink, and nothing reaches the sentinel.
    expect(lstatSync(join(img.layers[1] as string, 'link')).isDirectory()).toBe(true);
    untouched();
  });

  it('skips device nodes and fifos', async () => {
    const p = pack();
    p.entry({
      name: 'dev-null',
      type: 'character-device',
      devmajor: 1,
      devminor: 3,
      mode: 0o666,
      mtime: new Date(0),
    });
    p.entry({ name: 'fifo', type: 'fifo', mode: 0o644, mtime: new Date(0) });
    p.entry({ name: 'ok', mode: 0o644, mtime: new Date(0) }, 'fine');
    p.finalize();
    const chunks: Buffer[] = [];
    for await (const c of p) chunks.push(c as Buffer);
    const img = await importBuffer(await ociArchive([Buffer.concat(chunks)]));
    expect(readdirSync(img.layers[0] as string).sort()).toEqual(['ok']);
  });

  it('refuses a truncated layer', async () => {
    const layer = await tar([{ name: 'big', body: 'y'.repeat(10_000) }]);
    const cut = layer.subarray(0, 3000);
    const err = await importBuffer(await ociArchive([cut], { diffIds: [`sha256:${sha(cut)}`] })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ImageInvalidError);
  });

  it('says so when an index has no image for this platform', async () => {
    const layer = await tar([{ name: 'a', body: 'x' }]);
    const archive = await ociArchive([layer], { platform: { os: 'linux', architecture: 'arm64' } });
    await expect(importBuffer(archive)).rejects.toThrow(/no linux\/amd64 variant \(it has linux\/arm64\)/);
  });

  it('turns whiteouts into 0:0 character devices and opaque markers into the overlay xattr', async () => {
    const layer = await tar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.motd', body: '' },
      { name: 'var/', type: 'directory' },
      { name: 'var/.wh..wh..opq', body: '' },
      { name: 'bin/tool', body: '#!/bin/sh\n', mode: 0o4755 },
    ]);
    const img = await importBuffer(await ociArchive([layer]));
    const root = img.layers[0] as string;
    const wh = lstatSync(join(root, 'etc/motd'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    const xattr = execFileSync(
      'getfattr',
      ['--only-values', '-n', 'trusted.overlay.opaque', join(root, 'var')],
      { encoding: 'utf8' },
    );
    expect(xattr).toBe('y');
    // setuid kept as the image has it
    expect(lstatSync(join(root, 'bin/tool')).mode & 0o7777).toBe(0o4755);
  });

  it('applies no xattrs from the archive, trusted.overlay.* included', async () => {
    const p = pack();
    p.entry({
      name: 'dir/',
      type: 'directory',
      mode: 0o755,
      mtime: new Date(0),
      pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y' },
    });
    p.entry(
      {
        name: 'dir/f',
        mode: 0o644,
        mtime: new Date(0),
        pax: { 'SCHILY.xattr.trusted.overlay.redirect': '/etc' },
      },
      'x',
    );
    p.finalize();
    const chunks: Buffer[] = [];
    for await (const c of p) chunks.push(c as Buffer);
    const img = await importBuffer(await ociArchive([Buffer.concat(chunks)]));
    const root = img.layers[0] as string;
    for (const f of ['dir', 'dir/f']) {
      const attrs = execFileSync('getfattr', ['-d', '-m', '-', join(root, f)], { encoding: 'utf8' });
      expect(attrs).not.toMatch(/trusted\.overlay/);
    }
  });

  it('makes opaque whiteouts hide lower-layer content only, once mounted', async () => {
    const lower = await tar([
      { name: 'var/old', body: 'lower' },
      { name: 'keep', body: 'kept' },
    ]);
    const upper = await tar([
      { name: 'var/', type: 'directory' },
      { name: 'var/.wh..wh..opq', body: '' },
      { name: 'var/new', body: 'upper' },
    ]);
    const img = await importBuffer(await ociArchive([lower, upper]));
    const merged = join(dir, 'merged');
    await mkdir(merged, { recursive: true });
    await mkdir(join(dir, 'ovl-up'), { recursive: true });
    await mkdir(join(dir, 'ovl-work'), { recursive: true });
    const lowerdir = [...img.layers].reverse().join(':');
    execFileSync('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lowerdir},upperdir=${join(dir, 'ovl-up')},workdir=${join(dir, 'ovl-work')}`,
      merged,
    ]);
    try {
      expect(readdirSync(join(merged, 'var'))).toEqual(['new']);
      expect(readFileSync(join(merged, 'keep'), 'utf8')).toBe('kept');
    } finally {
      execFileSync('umount', [merged]);
    }
  });

  it('replaces a file by a directory and a directory by a symlink within a layer', async () => {
    const layer = await tar([
      { name: 'x', body: 'file first' },
      { name: 'x/', type: 'directory' },
      { name: 'x/inner', body: 'in dir' },
      { name: 'y/', type: 'directory' },
      { name: 'y', type: 'symlink', linkname: 'x' },
    ]);
    const img = await importBuffer(await ociArchive([layer]));
    const root = img.layers[0] as string;
    expect(readFileSync(join(root, 'x/inner'), 'utf8')).toBe('in dir');
    expect(lstatSync(join(root, 'y')).isSymbolicLink()).toBe(true);
  });

  it('stops a layer that unpacks past the size limit', async () => {
    const small = new ImageStore(join(dir, 'small'), { maxLayerBytes: 1000 });
    const layer = gzipSync(await tar([{ name: 'big', body: 'z'.repeat(100_000) }]));
    const f = join(dir, 'bomb.tar');
    await writeFile(f, await ociArchive([layer]));
    await expect(small.importArchive(f)).rejects.toThrow(/more than 1000 bytes/);
  });
});
