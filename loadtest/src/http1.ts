/**
 * Takes one whole HTTP/1.1 response (headers and a content-length body) off the front of what a
 * connection received; undefined while it is incomplete. Just enough HTTP for the runtime
 * scenario's raw client: an HTTP library would cost more than the thaw it measures.
 */
export function takeResponse(received: string): { status: number; rest: string } | undefined {
  const end = received.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = received.slice(0, end);
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
  if (!status) throw new Error(`not an HTTP/1.1 response: ${JSON.stringify(head.slice(0, 40))}`);
  const length = Number(/^content-length:\s*(\d+)\s*$/im.exec(head)?.[1] ?? 0);
  if (received.length < end + 4 + length) return undefined;
  return { status: Number(status), rest: received.slice(end + 4 + length) };
}
