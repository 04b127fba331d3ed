// node-hello: the test and example function. An HTTP server on $PORT that echoes the request.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect } from 'node:net';

const port = Number(process.env.PORT ?? 8080);
const flaky = new Map();

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://fn');
  let bodyLength = 0;
  req.on('data', (chunk) => {
    bodyLength += chunk.length;
  });
  req.on('end', () => {
    switch (url.pathname) {
      case '/sleep': {
        const ms = Number(url.searchParams.get('ms') ?? 0);
        setTimeout(() => json(res, 200, { slept: ms }), ms);
        return;
      }
      case '/spin': {
        // Burns CPU for ms milliseconds: lets tests see that a frozen container uses none.
        const until = Date.now() + Number(url.searchParams.get('ms') ?? 0);
        while (Date.now() < until);
        json(res, 200, { spun: true });
        return;
      }
      case '/alloc': {
        // Allocates and touches N MiB and keeps it: lets tests hit the memory limit.
        const hold = [];
        for (let i = 0; i < Number(url.searchParams.get('mb') ?? 0); i++)
          hold.push(Buffer.alloc(1024 * 1024, 1));
        globalThis.held = hold;
        json(res, 200, { allocated: hold.length });
        return;
      }
      case '/log': {
        // Writes a line to stdout (or stderr): lets tests follow a function's logs.
        const msg = url.searchParams.get('msg') ?? '';
        if (url.searchParams.get('stream') === 'stderr') console.error(msg);
        else console.log(msg);
        json(res, 200, { logged: msg });
        return;
      }
      case '/flaky': {
        // Answers 503 to the first `fails` calls with the same key, then 200: lets tests see retries.
        const key = url.searchParams.get('key') ?? '';
        const seen = (flaky.get(key) ?? 0) + 1;
        flaky.set(key, seen);
        json(res, seen <= Number(url.searchParams.get('fails') ?? 0) ? 503 : 200, { key, call: seen });
        return;
      }
      case '/crash':
        process.exit(1);
        return;
      case '/status': {
        // What the process is allowed: lets tests check the container's security settings.
        const status = Object.fromEntries(
          readFileSync('/proc/self/status', 'utf8')
            .split('\n')
            .map((l) => l.split(':\t'))
            .filter(([k]) => ['Uid', 'Gid', 'CapEff', 'CapBnd', 'NoNewPrivs', 'Seccomp'].includes(k))
            .map(([k, v]) => [k, v.trim()]),
        );
        json(res, 200, { ...status, uid: process.getuid(), hostname: process.env.HOSTNAME ?? '' });
        return;
      }
      case '/connect': {
        // Tries a TCP connection from inside: lets tests check what the instance can reach.
        const sock = connect({
          host: url.searchParams.get('host'),
          port: Number(url.searchParams.get('port')),
        });
        const done = (result) => {
          sock.destroy();
          if (!res.headersSent) json(res, 200, { result });
        };
        sock.setTimeout(Number(url.searchParams.get('timeout') ?? 1000), () => done('timeout'));
        sock.once('connect', () => done('connected'));
        sock.once('error', (err) => done(err.code ?? 'error'));
        return;
      }
      case '/write': {
        // Writes a small file: lets tests check what is writable.
        try {
          writeFileSync(url.searchParams.get('path') ?? '', 'x');
          json(res, 200, { result: 'written' });
        } catch (err) {
          json(res, 200, { result: err.code ?? 'error' });
        }
        return;
      }
      case '/env':
        json(res, 200, process.env);
        return;
      default: {
        const headers = {};
        for (const [k, v] of Object.entries(req.headers)) {
          if (['host', 'content-type', 'user-agent', 'authorization'].includes(k) || k.startsWith('x-'))
            headers[k] = v;
        }
        json(res, 200, {
          method: req.method,
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers,
          bodyLength,
        });
      }
    }
  });
});

// The instance is frozen while idle. A keep-alive or request timer that expires while frozen
// fires the moment it is thawed and would close the connection the worker is about to reuse.
server.keepAliveTimeout = 0;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.listen(port, '0.0.0.0', () => console.log(`listening on ${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
