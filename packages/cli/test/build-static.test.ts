import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Platform } from '@thaw/devkit';
import { readElf } from '@thaw/runtime/build';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliPlatform, startCliPlatform } from './cli-platform.js';

const GO_HELLO = fileURLToPath(new URL('../../../examples/go-hello/', import.meta.url));
const exec = promisify(execFile);
let p: CliPlatform;
let platform: Platform;
let tmp: string;
let cli: CliPlatform['cli'];
/** The go-hello example with its binary, built here (it is not committed). */
let goDir: string;

/**
 * A tiny HTTP server in C, linked dynamically against the host's libc: the case thaw.json's
 * `"libraries": "host"` is for.
 */
const C_SERVER = `#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
  const char *port = getenv("PORT");
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(port ? port : "8080")) };
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) return 1;
  for (;;) {
    int c = accept(s, 0, 0);
    char buf[4096];
    if (c < 0) continue;
    if (read(c, buf, sizeof buf) > 0) {
      const char *r = "HTTP/1.1 200 OK\\r\\ncontent-length: 12\\r\\nconnection: close\\r\\n\\r\\nhello from c";
      write(c, r, strlen(r));
    }
    close(c);
  }
}
`;

beforeAll(async () => {
  goDir = mkdtempSync('/tmp/thaw-gohello-');
  for (const f of readdirSync(GO_HELLO))
    if (f !== 'README.md') copyFileSync(join(GO_HELLO, f), join(goDir, f));
  // Standard library only, no network: the module proxy is off.
  const goEnv = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOPROXY: 'off' };
  const [, started] = await Promise.all([
    exec('go', ['build', '-trimpath', '-ldflags=-buildid=', '-o', 'server', '.'], { cwd: goDir, env: goEnv }),
    startCliPlatform('clibin'),
  ]);
  p = started;
  ({ platform, tmp, cli } = p);
}, 240_000);

afterAll(async () => {
  await p?.close();
  await rm(goDir, { recursive: true, force: true });
});

async function curl(path: string): Promise<{ status: number; body: string }> {
  const { stdout } = await exec('curl', ['-s', '-w', '\n%{http_code}', `${platform.gatewayUrl}/fn/${path}`]);
  const i = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
}

/** A folder in the test's temp folder holding `files`. */
function folder(name: string, files: Record<string, string>): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

describe('reading ELF headers', () => {
  it('tells a static binary, a dynamic one and a script apart', () => {
    expect(readElf(join(goDir, 'server'))).toEqual({
      x86_64: true,
      executable: true,
      interpreter: undefined,
    });
    expect(readElf('/usr/bin/python3')).toEqual({
      x86_64: true,
      executable: true,
      interpreter: '/lib64/ld-linux-x86-64.so.2',
    });
    expect(readElf(join(GO_HELLO, 'main.go'))).toBeUndefined();
  });
});

describe('thaw build for a static binary', () => {
  it('builds the Go example twice to the same digest, deploys it and it answers through the CLI and curl', async () => {
    const build = async (out: string) => {
      const r = await cli(['build', goDir, '-o', join(tmp, out), '--json']);
      expect(r.code, r.err).toBe(0);
      return JSON.parse(r.out) as { digest: string; mode: string; language: string };
    };
    const a = await build('a.tar');
    expect(a).toMatchObject({ mode: 'static binary', language: 'binary' });
    expect((await build('b.tar')).digest).toBe(a.digest);

    const deployed = await cli(['deploy', join(tmp, 'a.tar'), '--name', 'gohello']);
    expect(deployed.code, deployed.err).toBe(0);
    const r = await cli(['invoke', 'gohello', '/hi?name=ada']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({
      greeting: 'hello, ada',
      path: '/hi',
      go: expect.stringMatching(/^go1\./),
    });
    const c = await curl('gohello/x?name=bob');
    expect(c.status).toBe(200);
    expect(JSON.parse(c.body)).toMatchObject({ greeting: 'hello, bob', path: '/x' });
    expect((await cli(['rm', 'gohello'])).code).toBe(0);
  }, 120_000);

  it('refuses a dynamically linked binary unless thaw.json asks for the host libraries, then runs it', async () => {
    const dir = folder('c-server', { 'server.c': C_SERVER });
    await exec('gcc', ['-O2', '-o', join(dir, 'server'), join(dir, 'server.c')]);
    const refused = await cli(['build', dir, '-o', join(tmp, 'c.tar')]);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(
      /server is dynamically linked \(interpreter \/lib64\/ld-linux-x86-64\.so\.2\)/,
    );
    expect(refused.err).toContain('CGO_ENABLED=0');

    writeFileSync(join(dir, 'thaw.json'), JSON.stringify({ libraries: 'host' }));
    const deployed = await cli(['deploy', dir, '--name', 'cserver']);
    expect(deployed.code, deployed.err).toBe(0);
    expect(deployed.err).toMatch(/\(binary, host libraries\)/);
    expect(await curl('cserver/')).toEqual({ status: 200, body: 'hello from c' });
    expect((await cli(['rm', 'cserver'])).code).toBe(0);
  }, 120_000);

  it('explains what is wrong with a server that is not an ELF executable or a thaw.json that names nothing', async () => {
    const script = folder('script', { server: '#!/bin/sh\necho hi\n' });
    chmodSync(join(script, 'server'), 0o755);
    const s = await cli(['build', script, '-o', join(tmp, 's.tar')]);
    expect(s.code).toBe(2);
    expect(s.err).toContain('server is not an ELF executable');

    const named = folder('named', { 'thaw.json': '{"binary": "bin/app"}' });
    const n = await cli(['build', named, '-o', join(tmp, 'n.tar')]);
    expect(n.code).toBe(2);
    expect(n.err).toContain('"binary" bin/app is not a file');

    const bad = folder('bad', { 'thaw.json': '{"libraries": "all"}', server: '' });
    expect((await cli(['build', bad, '-o', join(tmp, 'x.tar')])).err).toContain(
      '"libraries" can only be "host"',
    );
  });
});
