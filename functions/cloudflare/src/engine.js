// The engine and the log, shared by the Worker's fetch and queue handlers and its Durable
// Objects (they all run in one isolate per location; each isolate builds its engine once per
// config text).
import { createEngine, init } from 'callhook';
import exampleConfig from '../../../examples/configs/example.json';

let cached = null; // {configText, promise}

function configText(env) {
  const text = typeof env.CALLHOOK_CONFIG === 'string' ? env.CALLHOOK_CONFIG.trim() : '';
  if (text !== '') return text;
  if (env.CALLHOOK_CONFIG && typeof env.CALLHOOK_CONFIG === 'object') return JSON.stringify(env.CALLHOOK_CONFIG);
  return JSON.stringify(exampleConfig);
}

/** The engine for this env: secrets (`wrangler secret put NAME`) are read from `env`. */
export function engineFor(env) {
  const text = configText(env);
  if (!cached || cached.configText !== text) {
    const promise = createEngine(text, {
      secrets: (name) => (typeof env[name] === 'string' ? env[name] : undefined),
    });
    cached = { configText: text, promise };
    promise.then((engine) => {
      if (cached?.promise === promise) redactor = engine;
    }, () => {});
    promise.catch(() => {
      if (cached?.promise === promise) cached = null; // try again on the next request
    });
  }
  return cached.promise;
}

/** The core's refusal of `kind` as the plain {status, headers, body} a Durable Object returns. */
export async function refusal(kind, detail) {
  return (await init()).refusal(kind, detail);
}

// Every line goes through the core's redaction: the engine's (secrets and caller numbers) once
// it is built, until then the runtime's (caller numbers).
let redactor = null;

/** Makes the runtime the redactor until an engine is built. */
export function useRuntimeRedactor(runtime) {
  redactor ??= runtime;
}

export function log(level, msg, fields = {}) {
  const text = JSON.stringify({ level, msg, ...fields });
  const line = redactor ? redactor.redact(text) : text;
  if (level === 'error') console.error(line);
  else console.log(line);
}

/** The error's message, for a log line. */
export function messageOf(err) {
  return String(err?.message ?? err);
}
