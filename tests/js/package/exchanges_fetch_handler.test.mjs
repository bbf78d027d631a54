// The exchange corpus (tests/vectors/exchanges) through the npm package's Fetch handler:
// createFetchHandler with a memory store and a delivery queue sending to the loopback receiver.
// The handler's clock is a test clock (real time plus jumps), so abandoned calls are found by
// handler.sweep() a minute later in a few milliseconds. The queue keeps real time: it schedules
// its timers on Date.now(), so its `now` cannot be moved on its own (see the report in
// tests/vectors/README.md, "Exchanges").
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defineExchangeTests, lowerHeaders, passWithJumps, prerequisite, root } from '../exchange-runner.mjs';

const built = existsSync(join(root, 'bindings/js/dist/callhook_wasm.wasm'));
const missing = prerequisite(!built && 'the npm package is not built (bash bindings/js/build.sh)');

defineExchangeTests('fetch-handler', {
  missing,
  async start(configText, secrets) {
    const { createEngine, createFetchHandler, createDeliveryQueue, memoryStore } = await import('../../../bindings/js/index.js');
    const engine = await createEngine(configText, { secrets });
    let offsetMs = 0;
    const clock = () => Date.now() + offsetMs;
    const store = memoryStore();
    const queue = createDeliveryQueue({ engine, store });
    const handler = createFetchHandler({
      engine, store, queue, now: () => clock() / 1000, onError: () => {},
    });
    return {
      clock,
      deliveryClock: Date.now, // the queue's
      pass: passWithJumps((ms) => { offsetMs += ms; }),
      async send(request) {
        let init;
        try {
          init = new Request(`http://callhook.test${request.path}`, {
            method: request.method, headers: request.headers, body: request.body ?? undefined,
          });
        } catch (err) {
          throw new Error(`a Fetch Request cannot carry this request: ${err.message}`);
        }
        const response = await handler(init);
        return { status: response.status, headers: lowerHeaders([...response.headers]), body: await response.text() };
      },
      sweep: () => handler.sweep(clock() / 1000),
      deadLetters: async () => (await queue.deadLetters()).map((d) => ({
        destination: d.destination, key: d.idempotency_key, code: d.code,
      })),
      slackMs: 2000,
      quietMs: 300,
      stop: () => queue.close(),
    };
  },
});
