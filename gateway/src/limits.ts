/**
 * Room kept in each NATS message for the call's headers (method, path, the caller's headers, thaw's
 * own); Node refuses request headers over 16 KiB, so 64 KiB leaves a wide margin.
 */
export const NATS_HEADER_ROOM = 64 * 1024;

/**
 * A body of MAX_BODY_BYTES travels in one NATS message, so the server's max_payload must fit it
 * plus its headers. Answers why it does not, or undefined when it fits.
 */
export function natsPayloadProblem(maxPayload: number, maxBodyBytes: number): string | undefined {
  const needed = maxBodyBytes + NATS_HEADER_ROOM;
  if (maxPayload >= needed) return undefined;
  return (
    `the NATS server's max_payload (${maxPayload} bytes) cannot carry a body of MAX_BODY_BYTES ` +
    `(${maxBodyBytes} bytes) plus ${NATS_HEADER_ROOM} bytes of headers: raise max_payload in ` +
    `nats-server's configuration to at least ${needed} (e.g. "max_payload: 8MB") or lower MAX_BODY_BYTES`
  );
}
