// Runs vectors of tests/vectors inside workerd with the npm package, for
// tests/js/worker/workerd_vectors.test.mjs, which compares what it answers with the vectors.
//
// POST /payload, /engine or /sequence with a JSON array of vectors as vector-runs.mjs takes them
// (bodies that are bytes as {"$bytes": base64}); the answer is an array in the same order, each
// {value: what vector-runs.mjs gave} or {exception: what was thrown}. GET /healthz answers once
// the package's runtime is ready.
import { init } from 'callhook';
import { runEngineVector, runPayloadVector, runSequence, wireParse } from './vector-runs.mjs';

let runtime = null; // Promise of the package's runtime, one per isolate

const RUNS = {
  '/payload': (rt, v) => runPayloadVector(rt, v.payload, v.options),
  '/engine': (rt, v) => runEngineVector(rt, v),
  '/sequence': (rt, v) => {
    const engine = rt.createEngine(v.configText, { secrets: v.secrets });
    try {
      return runSequence(engine, v.steps);
    } finally {
      engine.close();
    }
  },
};

export default {
  async fetch(request) {
    const { pathname } = new URL(request.url);
    runtime ??= init();
    const rt = await runtime;
    if (request.method === 'GET' && pathname === '/healthz') return Response.json({ status: 'ok' });
    const run = RUNS[pathname];
    if (request.method !== 'POST' || !run) return new Response('not found', { status: 404 });
    const vectors = wireParse(await request.text());
    return Response.json(vectors.map((v) => {
      try {
        return { value: run(rt, v) };
      } catch (e) {
        return { exception: String(e?.stack ?? e) };
      }
    }));
  },
};
