// What the tests of "no secret at rest" share: secret values whose percent-encoded and
// JSON-escaped forms differ from them, every form a value can take in stored text, and the
// check that a text holds none of them.
import assert from 'node:assert/strict';

/** The destinations' secrets, by name. */
export const DELIVERY_SECRETS = Object.freeze({
  GA4_API_SECRET: 'ga4/s3cret+value',
  ADS_TOKEN: 'ads-dev-token-123',
  CRM_KEY: 'crm"key\\with\ttab',
});

/** Every form a secret can take in a string: as it is, percent-encoded, JSON-escaped. */
export function secretForms(value) {
  const pct = [...new TextEncoder().encode(value)].map((b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
  return [value, pct, JSON.stringify(value).slice(1, -1)];
}

/** Fails when `text` holds any form of any of `secrets` ({name: value}). */
export function assertNoSecret(text, what, secrets = DELIVERY_SECRETS) {
  for (const [name, value] of Object.entries(secrets)) {
    for (const form of secretForms(value)) assert.ok(!text.includes(form), `${name} (${form}) in ${what}: ${text}`);
  }
}
