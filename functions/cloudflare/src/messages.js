// The Worker's Queue messages.
//
// A delivery message (callhook-deliveries) is JSON:
//   {"callhook_delivery": 1, "sealed": the sealed delivery (engine.sealDelivery), "call_sid",
//    "record_key", "enqueued_at_ms", "attempts": attempts made, "history": [{at_ms, status, code,
//    reason}, ...]}
// A Queue message cannot be changed, so a delivery to retry is queued anew with the attempt
// added and the old message acknowledged: its history reaches the dead letter. Messages queued
// before this form (the sealed text alone, or a plain delivery object) are still read; their
// attempts are the Queue's count.
//
// A dead-letter message (callhook-deliveries-dead) is JSON:
//   {"callhook_dead_letter": 1, route, destination, idempotency_key, call_sid, record_key,
//    sealed, attempts, history, code, reason, dead_at_ms, enqueued_at_ms}

export const CALLS_MESSAGE = 'callhook_delivery';
export const DEAD_LETTER_QUEUE = 'callhook_dead_letter';

// sendBatch takes at most 100 messages and 256 KB in all.
const BATCH_MESSAGES = 100;
const BATCH_BYTES = 200_000;

const text = (v) => (typeof v === 'string' ? v : '');

/**
 * The names a sealed delivery carries as they are (its route, destination and key, and the
 * call it belongs to), for a delivery that cannot be unsealed; nothing else is read from it.
 */
export function namesOf(sealed) {
  try {
    const doc = JSON.parse(sealed);
    return {
      route: text(doc?.route), destination: text(doc?.destination), idempotency_key: text(doc?.idempotency_key),
      call_sid: text(doc?.call_sid), record_key: text(doc?.record_key),
    };
  } catch {
    return { route: '', destination: '', idempotency_key: '', call_sid: '', record_key: '' };
  }
}

/**
 * A delivery message read: {body (the message as it is queued again), sealed (or null for a
 * plain delivery object, then in `delivery`), route, destination, idempotency_key, call_sid,
 * record_key, enqueued_at_ms (null when unknown), attempts, history}. `queueAttempts` is the
 * Queue's count for the message (msg.attempts).
 */
export function envelopeOf(body, queueAttempts) {
  const earlier = Math.max(0, (Number(queueAttempts) || 1) - 1);
  let sealed = null;
  let delivery = null;
  let fields = {};
  if (typeof body === 'string') {
    sealed = body;
  } else if (body && typeof body === 'object' && body[CALLS_MESSAGE] === 1 && typeof body.sealed === 'string') {
    sealed = body.sealed;
    fields = body;
  } else {
    delivery = body && typeof body === 'object' ? body : {};
  }
  const names = sealed !== null ? namesOf(sealed) : {
    route: text(delivery.route), destination: text(delivery.destination),
    idempotency_key: text(delivery.idempotency_key), call_sid: text(delivery.call_sid), record_key: text(delivery.record_key),
  };
  const message = {
    sealed,
    delivery,
    route: names.route,
    destination: names.destination,
    idempotency_key: names.idempotency_key,
    call_sid: text(fields.call_sid) || names.call_sid || names.idempotency_key.split(':')[0],
    record_key: text(fields.record_key) || names.record_key,
    enqueued_at_ms: Number.isFinite(fields.enqueued_at_ms) ? fields.enqueued_at_ms : null,
    attempts: Number.isInteger(fields.attempts) && fields.attempts >= 0 ? fields.attempts : earlier,
    history: Array.isArray(fields.history) ? fields.history : [],
  };
  message.body = {
    [CALLS_MESSAGE]: 1, sealed, call_sid: message.call_sid, record_key: message.record_key,
    enqueued_at_ms: message.enqueued_at_ms, attempts: message.attempts, history: message.history,
  };
  return message;
}

/** Sends JSON message bodies in batches within sendBatch's limits. */
export async function sendMessages(queue, bodies) {
  let batch = [];
  let bytes = 0;
  const flush = async () => {
    if (batch.length) await queue.sendBatch(batch);
    batch = [];
    bytes = 0;
  };
  for (const body of bodies) {
    const size = new TextEncoder().encode(JSON.stringify(body)).length + 100;
    if (batch.length === BATCH_MESSAGES || (batch.length && bytes + size > BATCH_BYTES)) await flush();
    batch.push({ body, contentType: 'json' });
    bytes += size;
  }
  await flush();
}
