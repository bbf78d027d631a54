// The pipeline a JavaScript developer would write instead of callhook: URLSearchParams, a JSON
// Schema validator (ajv) with the spec's rules, a nested object, JSON.stringify. Reads NDJSON
// form bodies from a file and writes one JSON line per payload, like `callhook normalize --ndjson`.
import { readFileSync, writeSync } from 'node:fs';
import Ajv from 'ajv';

const e164 = '^\\+[1-9][0-9]{1,14}$';
const uri = '^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\\s]+\\S*$';
const datetime = '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01]) ([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d$';
const str = { type: 'string' };
const common = ['Action', 'Event', 'Account.Sid', 'Property.Sid', 'Property.Name', 'Property.Type',
  'Call.Sid', 'Call.StartDate', 'Call.From', 'Call.To', 'Call.To.Name'];
const schema = {
  type: 'object',
  properties: {
    Action: { const: 'Webhook' },
    Event: { enum: ['Call.Initiate', 'Call.Complete'] },
    'Property.Type': { enum: ['Site'] },
    'Call.StartDate': { type: 'string', pattern: datetime },
    'Call.From': { anyOf: [{ const: 'anonymous' }, { type: 'string', pattern: e164 }] },
    'Call.To': { type: 'string', pattern: e164 },
    'Call.Endpoint': { type: 'string', pattern: `(${e164})|^$` },
    'Call.To.Type': { enum: ['Static', 'Dynamic'] },
    'Call.Duration': { type: 'string', pattern: '^\\d+$' },
    'Call.Disposition': { enum: ['ANSWERED', 'NO ANSWER', 'BUSY', 'IVR', 'FAILED'] },
    'Call.Recording.Uri': { type: 'string', pattern: `(${uri})|^$` },
    'Call.Survey.Value': { type: 'string', pattern: '^(-?\\d+)?$' },
    'Session.Traffic.Type': { enum: ['Campaign', 'Direct', 'Organic', 'Referral', 'Unattributed'] },
    'Session.ConversionUri': { type: 'string', pattern: uri },
    'Session.LandingUri': { type: 'string', pattern: uri },
    'Account.Sid': { ...str, minLength: 1 },
    'Call.Sid': { ...str, minLength: 1 },
  },
  required: common,
  if: { properties: { Event: { const: 'Call.Complete' } } },
  then: { required: ['Call.To.Type', 'Call.Duration', 'Call.Disposition'] },
};
const validate = new Ajv({ allErrors: true }).compile(schema);

const orNull = (v) => (v === undefined || v === '' ? null : v);
const list = (v) => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean));

function canonical(p) {
  const anonymous = p['Call.From'] === 'anonymous';
  return {
    event: p.Event,
    account: { sid: p['Account.Sid'] },
    property: { sid: p['Property.Sid'], name: p['Property.Name'], type: p['Property.Type'] },
    call: {
      sid: p['Call.Sid'],
      start_date: p['Call.StartDate'].replace(' ', 'T') + 'Z',
      from: { number: anonymous ? null : p['Call.From'], anonymous, country: orNull(p['Call.From.Country']),
        region: orNull(p['Call.From.Region']), city: orNull(p['Call.From.City']) },
      to: { number: p['Call.To'], type: p['Call.To.Type'], name: orNull(p['Call.To.Name']) },
      duration: p['Call.Duration'] === undefined ? undefined : Number(p['Call.Duration']),
      disposition: p['Call.Disposition'],
      recording_uri: orNull(p['Call.Recording.Uri']) ?? undefined,
      endpoint: orNull(p['Call.Endpoint']) ?? undefined,
      survey: p['Call.Survey.Type'] === undefined ? undefined : {
        type: orNull(p['Call.Survey.Type']),
        value: p['Call.Survey.Value'] === undefined ? undefined : Number(p['Call.Survey.Value']),
        custom1: p['Call.Survey.Custom1'], custom2: p['Call.Survey.Custom2'],
        custom3: p['Call.Survey.Custom3'], unique_code: p['Call.Survey.UniqueCode'] },
      prompts: { postcode: list(p['Call.Prompts.Postcode']), keys: list(p['Call.Prompts.Keys']) },
    },
    attribution: { source: orNull(p['Attribution.Source']), medium: orNull(p['Attribution.Medium']),
      campaign: orNull(p['Attribution.Campaign']), content: orNull(p['Attribution.Content']) },
    session: { traffic_type: p['Session.Traffic.Type'], keywords: orNull(p['Session.Keywords']),
      conversion_uri: p['Session.ConversionUri'], landing_uri: p['Session.LandingUri'],
      custom_dimensions: { 1: p['AnalyticsSession.CustomDimension1'] } },
    google: { analytics_client_id: p['Google.Analytics.ClientId'], ads_click_id: p['Google.AdWords.ClickId'] },
  };
}

// One payload through the pipeline: the JSON line a caller would write out.
export function pipeline(body) {
  const result = pipelineObject(body);
  return { valid: result.valid !== false, json: JSON.stringify(result) };
}

// The same without the final JSON.stringify: the canonical object, or {valid: false, errors}.
export function pipelineObject(body) {
  const params = {};
  for (const [k, v] of new URLSearchParams(body)) if (!(k in params)) params[k] = v;
  return validate(params) ? canonical(params) : { valid: false, errors: validate.errors };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = readFileSync(process.argv[2], 'utf8');
  const out = [];
  let invalid = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    const result = pipeline(line);
    if (!result.valid) invalid++;
    out.push(result.json);
    if (out.length === 4096) {
      writeSync(1, out.join('\n') + '\n');
      out.length = 0;
    }
  }
  if (out.length) writeSync(1, out.join('\n') + '\n');
  process.stderr.write(`node baseline: ${invalid} invalid\n`);
}
