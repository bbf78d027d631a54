// The exchange corpus (tests/vectors/exchanges) through the Fastly program (./program.mjs: the
// pre-initialized build/wasi/callhook-fastly.wizer.wasm when build.sh made it from the current
// build/wasi/callhook-fastly.wasm, else that one) in the repository's Node host for the Compute ABI
// (functions/fastly/host), one fresh instance per request as Fastly runs it. Every destination
// is a backend pointing at the loopback receiver. The program's clock is the host's, real time
// plus jumps, and Fastly has no timers: letting time pass is moving the clock on and sending a
// request (any request retries overdue outbox entries and sweeps overdue calls). Backends time
// out after 1 s (the host's backendTimeoutMs: on Fastly a backend's own timeouts apply, not
// delivery.timeout_seconds). Dead letters are the KV Store's dead/ entries.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createFastlyHost } from '../../../functions/fastly/host/host.mjs';
import { defineExchangeTests, lowerHeaders, prerequisite, root } from '../exchange-runner.mjs';
import { programPath } from './program.mjs';

// CALLHOOK_FASTLY_WASM runs another build of the program (one in your own build folder); else the
// pre-initialized one build.sh packs, when it is up to date (./program.mjs).
const missing = prerequisite(!existsSync(programPath) && 'no Fastly build (cmake --preset wasi && cmake --build --preset wasi)');
const RECORDS = 'callhook_records';

defineExchangeTests('fastly', {
  missing,
  async start(configText, secrets, receiver) {
    let offsetMs = 0;
    const clock = () => Date.now() + offsetMs;
    const destinations = Object.keys(JSON.parse(configText).destinations ?? {});
    const host = createFastlyHost({
      wasm: programPath,
      manifest: join(root, 'functions/fastly/fastly.toml'),
      workers: 2,
      clock,
      backendTimeoutMs: 1000,
      backends: Object.fromEntries(destinations.map((name) => [name, receiver.origin])),
    });
    host.setConfigStore('callhook_config', { config: configText });
    host.setSecretStore('callhook_secrets', secrets);

    async function send(request) {
      const { response, done } = host.run({
        method: request.method,
        url: `https://callhook.test${request.path}`,
        headers: request.headers,
        body: request.body ?? '',
      });
      const res = await response;
      const answer = { status: res.status, headers: lowerHeaders([...res.headers]), body: await res.text() };
      await done;
      await host.idle(); // the program goes on after answering: deliveries, retries, sweeps
      return answer;
    }
    // Any request moves the outbox and the sweep index along; this one is refused at once.
    const poke = () => send({ method: 'GET', path: '/hook', headers: [], body: null });

    return {
      clock,
      async pass(ms) {
        offsetMs += ms;
        await poke();
      },
      send,
      sweep: poke,
      deadLetters: () => host.kv.list(RECORDS, { prefix: 'dead/', limit: 1000 }).data.map((key) => {
        const entry = JSON.parse(host.kv.get(RECORDS, key).text);
        return { destination: entry.destination, key: entry.idempotency_key, code: entry.code };
      }),
      slackMs: 3000,
      quietMs: 1500,
      stop: () => host.close(),
    };
  },
});
