import { z } from 'zod';

/** Triggers one function may carry. */
export const MAX_TRIGGERS = 10;

/**
 * A NATS subject a trigger listens on: tokens separated by ".", "*" for one token, ">" for the
 * rest (last only). Subjects of NATS itself ($JS, $SYS, _INBOX) are refused here, thaw's own
 * (under THAW_PREFIX) by the gateway, which knows its prefix.
 */
export const TriggerSubject = z
  .string()
  .min(1)
  .max(256)
  .regex(
    /^(?:[^\s.*>]+|\*)(?:\.(?:[^\s.*>]+|\*))*(?:\.>)?$|^>$/,
    'must be NATS subject tokens separated by "." ("*" for one token, ">" last for the rest)',
  )
  .refine(
    (s) => !/^(\$|_INBOX\b)/.test(s) && s !== '>',
    'subjects of NATS itself ($..., _INBOX) and ">" are refused',
  );

/**
 * A subject results are published to: no wildcards, and none of NATS itself ($JS, $O, $KV,
 * $SYS: a result published there would be an API call or a write into a stream, such as an
 * object store's; _INBOX: some client's replies).
 */
const ReplySubject = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\s.*>]+(?:\.[^\s.*>]+)*$/, 'must be NATS subject tokens separated by ".", without wildcards')
  .refine((s) => !/^(\$|_INBOX\b)/.test(s), 'subjects of NATS itself ($..., _INBOX) are refused');

const Common = {
  /** The path the function sees for each message. */
  path: z
    .string()
    .max(1024)
    .regex(/^\/[^\s#]*$/, 'must start with "/" and hold no spaces or "#"')
    .default('/'),
  /** Where each call's result is published (headers thaw-status, thaw-source-subject); none by default. */
  replySubject: ReplySubject.optional(),
};

/**
 * A function called for each message on a NATS subject (at most once: a message that arrives
 * while no gateway listens is not seen), or on a JetStream stream (at least once: a message is
 * acknowledged only after the function answered, and redelivered otherwise).
 */
export const Trigger = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('nats'), subject: TriggerSubject, ...Common }),
  z.strictObject({
    type: z.literal('jetstream'),
    /** An existing stream's name (not an object store's or key-value bucket's, nor thaw's: the gateway checks). */
    stream: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "_" or "-"'),
    /** Only the stream's messages on these subjects. */
    filterSubject: TriggerSubject.optional(),
    /** Deliveries of one message before it is given up (then logged and terminated). */
    maxDeliver: z.number().min(1).max(100).int().default(5),
    ...Common,
  }),
]);
export type Trigger = z.infer<typeof Trigger>;

/**
 * The header on every result a trigger publishes: the incoming message's count plus one (0 when
 * it has none). A message arriving with MAX_TRIGGER_HOPS or more is not called, so functions whose
 * triggers and reply subjects point at each other stop after that many calls.
 */
export const TRIGGER_HOPS_HEADER = 'thaw-trigger-hops';
/** Calls one chain of trigger results may make (docs/triggers.md). */
export const MAX_TRIGGER_HOPS = 8;
