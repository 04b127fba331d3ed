import { type FunctionSpec, type Subjects, ThawError } from '@thaw/shared';

/** THAW_PREFIX, read back from the subjects made with it. */
export function thawPrefix(subjects: Subjects): string {
  return subjects.place.slice(0, -'.place'.length);
}

/**
 * True when one subject could match both patterns ("*" one token, ">" one or more at the end):
 * a trigger on `*.invoke.>` would take thaw's own calls although it names no prefix.
 */
export function subjectsOverlap(a: string, b: string): boolean {
  return overlap(a.split('.'), b.split('.'));
}

function overlap(a: string[], b: string[]): boolean {
  const [x, ...restA] = a;
  const [y, ...restB] = b;
  if (x === undefined || y === undefined) return x === y;
  if (x === '>' || y === '>') return true;
  if (x !== y && x !== '*' && y !== '*') return false;
  return overlap(restA, restB);
}

/**
 * Why a JetStream trigger may not read `name`, or undefined: the streams behind object stores
 * (OBJ_: every uploaded image's chunks) and key-value buckets (KV_), and thaw's own (named with
 * its prefix, in any case).
 */
export function refusedStreamName(name: string, prefix: string): string | undefined {
  if (/^(OBJ|KV)_/i.test(name)) return `stream "${name}" holds an object store or key-value bucket`;
  if (name.toLowerCase().startsWith(prefix.toLowerCase())) {
    return `stream "${name}" is named like thaw's own ("${prefix}...")`;
  }
  return undefined;
}

/**
 * Refuses (VALIDATION_FAILED) triggers that would listen on, or publish results into, thaw's own
 * subjects (under `prefix`), results published where the function's triggers listen (each would
 * call it again), and two JetStream triggers sharing one durable consumer (the same stream and
 * filter), and JetStream triggers on streams named like object stores, key-value buckets or thaw's
 * own (refusedStreamName; what an existing stream keeps is checkTriggerStreams's). The shapes
 * themselves were checked by the schema.
 */
export function checkTriggers(spec: Pick<FunctionSpec, 'triggers'>, prefix: string): void {
  const own = `${prefix}.>`;
  const consumers = new Set<string>();
  spec.triggers.forEach((t, i) => {
    const listened = t.type === 'nats' ? t.subject : t.filterSubject;
    const field = t.type === 'nats' ? 'subject' : 'filterSubject';
    if (listened !== undefined && subjectsOverlap(listened, own)) {
      throw new ThawError(
        'VALIDATION_FAILED',
        `triggers[${i}].${field}: "${listened}" covers thaw's own subjects ("${own}"); choose a subject outside them`,
      );
    }
    if (t.replySubject !== undefined && subjectsOverlap(t.replySubject, own)) {
      throw new ThawError(
        'VALIDATION_FAILED',
        `triggers[${i}].replySubject: "${t.replySubject}" is one of thaw's own subjects ("${own}"); choose a subject outside them`,
      );
    }
    const loop = spec.triggers.find((u) => {
      const heard = u.type === 'nats' ? u.subject : u.filterSubject;
      return t.replySubject !== undefined && heard !== undefined && subjectsOverlap(t.replySubject, heard);
    });
    if (loop) {
      throw new ThawError(
        'VALIDATION_FAILED',
        `triggers[${i}].replySubject: "${t.replySubject}" is a subject the function's triggers listen on; each result would call it again`,
      );
    }
    if (t.type === 'jetstream') {
      const why = refusedStreamName(t.stream, prefix);
      if (why) {
        throw new ThawError(
          'VALIDATION_FAILED',
          `triggers[${i}].stream: ${why}; a trigger reads streams of the application only`,
        );
      }
      const key = `${t.stream}\0${t.filterSubject ?? ''}`;
      if (consumers.has(key)) {
        throw new ThawError(
          'VALIDATION_FAILED',
          `triggers[${i}]: another trigger of this function reads stream "${t.stream}"${t.filterSubject ? ` filtered on "${t.filterSubject}"` : ''} already; merge them`,
        );
      }
      consumers.add(key);
    }
  });
}
