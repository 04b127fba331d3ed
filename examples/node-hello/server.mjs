// node-hello: the test and example function. An HTTP server on $PORT that echoes the request.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);

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
      case '/crash':
        process.exit(1);
        return;
      case '/env':
        json(res, 200, process.env);
        return;
      default: {
        const headers = {};
        for (const [k, v] of Object.entries(req.headers)) {
          if (['host', 'content-type', 'user-agent'].includes(k) || k.startsWith('x-')) headers[k] = v;
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
