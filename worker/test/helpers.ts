import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import {
  FunctionRecord,
  type FunctionSpecInput,
  IMAGE_BUCKET,
  type ImageRecord,
  ImportReply,
  InvokeHeader,
} from '@thaw/shared';
import { JSONCodec, type Msg, type MsgHdrs, type NatsConnection, RequestStrategy, StorageType } from 'nats';

/**
 * An image archive as the gateway hands it over: put in the object store as `object`, then
 * imported by the worker listening on `importSubject`. Resolves to its image record.
 */
export async function importArchive(
  nc: NatsConnection,
  importSubject: string,
  object: string,
  archivePath: string,
): Promise<ImageRecord> {
  const os = await nc.jetstream().views.os(IMAGE_BUCKET, { storage: StorageType.File });
  await os.put({ name: object }, Readable.toWeb(createReadStream(archivePath)) as ReadableStream<Uint8Array>);
  const json = JSONCodec<unknown>();
  const msg = await nc.request(importSubject, json.encode({ object }), { timeout: 120_000 });
  const reply = ImportReply.parse(json.decode(msg.data));
  if (!reply.ok) throw new Error(`import of ${object} failed: ${JSON.stringify(reply)}`);
  return { digest: reply.digest, object, size: reply.size, uploadedAt: new Date().toISOString() };
}

/** A function record for `image`, as the gateway would store it. */
export function fnRecordFor(
  image: ImageRecord,
  name: string,
  extra: Partial<FunctionSpecInput> = {},
): FunctionRecord {
  const now = new Date().toISOString();
  return FunctionRecord.parse({
    name,
    image: image.digest,
    imageDigest: image.digest,
    timeoutMs: 5000,
    ...extra,
    createdAt: now,
    updatedAt: now,
  });
}

/**
 * An invocation as the gateway makes it: the worker's "accepted" message first, then the answer.
 * Resolves to the answer and the id of the worker that accepted the call.
 */
export async function callWorker(
  nc: NatsConnection,
  subject: string,
  body: Uint8Array,
  h?: MsgHdrs,
  timeout = 10_000,
): Promise<{ answer: Msg; acceptedBy: string | undefined }> {
  const replies = await nc.requestMany(subject, body, {
    strategy: RequestStrategy.Count,
    maxMessages: 2,
    maxWait: timeout,
    headers: h,
  });
  let acceptedBy: string | undefined;
  for await (const m of replies) {
    if (m.headers?.get(InvokeHeader.accepted)) {
      acceptedBy = m.headers.get(InvokeHeader.accepted);
      continue;
    }
    return { answer: m, acceptedBy };
  }
  throw new Error(`no answer on ${subject}`);
}

/** Whether the kernel says the container's cgroup is frozen (v2 cgroup.events, else the v1 freezer). */
export function kernelFrozen(cgroupParent: string, id: string): boolean {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    return /^frozen 1$/m.test(readFileSync(`/sys/fs/cgroup/${cgroupParent}/${id}/cgroup.events`, 'utf8'));
  }
  return (
    readFileSync(`/sys/fs/cgroup/freezer/${cgroupParent}/${id}/freezer.state`, 'utf8').trim() === 'FROZEN'
  );
}

/**
 * One sample of a scraped Prometheus text: the metric `name` with exactly `labels`; undefined
 * when there is none.
 */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    const want = Object.entries(labels);
    if (want.length === Object.keys(got).length && want.every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** Polls `check` every 20 ms until it holds or `ms` pass; resolves to its last answer. */
export async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return check();
}
