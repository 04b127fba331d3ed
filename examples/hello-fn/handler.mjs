// A thaw handler: called once per request with { method, path, query, headers, body };
// returns { status, headers, body } (a string, a Buffer, or anything JSON-serialisable).
export default async function handler(req) {
  const name = req.query.name ?? 'world';
  console.log(`greeting ${name} (${req.body.length} bytes in)`);
  return {
    status: 200,
    body: { greeting: `hello, ${name}`, method: req.method, path: req.path, bytes: req.body.length },
  };
}
