// The shipped Worker (functions/cloudflare/src/worker.js) unchanged, with what it keeps at rest
// made observable for tests/js/worker/sealed_cloudflare.test.mjs: every Queue message as its
// consumer receives it, every dead letter it sends, and a call's Durable Object storage. Test
// routes live under /__test/; everything else is the Worker's own.
import worker, { CallRecord as ShippedCallRecord } from '../../../functions/cloudflare/src/worker.js';

export { DeadLetters, Ledger } from '../../../functions/cloudflare/src/worker.js';

// This isolate's observations (wrangler dev runs the Worker, its consumer and its Durable
// Objects in one).
const seen = { queued: [], dead: [] };

function recordingEnv(env) {
  return {
    ...env,
    DEAD_LETTERS: {
      send: async (body, options) => {
        seen.dead.push(body);
        return env.DEAD_LETTERS.send(body, options);
      },
    },
  };
}

/** The shipped Durable Object, plus a dump of its storage (RPC), as the test sees it. */
export class CallRecord extends ShippedCallRecord {
  async dump() {
    return Object.fromEntries(await this.ctx.storage.list());
  }
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === '/__test/seen') return Response.json(seen);
    if (url.pathname === '/__test/storage') {
      const stub = env.CALL_RECORDS.get(env.CALL_RECORDS.idFromName(url.searchParams.get('key')));
      return Response.json(await stub.dump());
    }
    if (url.pathname === '/__test/enqueue' && request.method === 'POST') {
      // A message as the Worker would have queued it earlier, e.g. sealed under another config.
      await env.DELIVERIES.send(await request.text(), { contentType: 'text' });
      return new Response(null, { status: 204 });
    }
    return worker.fetch(request, env, ctx);
  },
  async queue(batch, env, ctx) {
    if (batch.queue === 'callhook-deliveries') {
      for (const msg of batch.messages) seen.queued.push({ body: msg.body, attempts: msg.attempts });
    }
    return worker.queue(batch, recordingEnv(env), ctx);
  },
};
