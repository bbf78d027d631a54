// The callhook playground: the package's synchronous API (./vendor/index.js, copied there by
// build.sh) run on every edit. No framework, no network: everything happens in this page.

// ---- samples (copies of examples/payloads/* and examples/configs/example.json) ----------------

const HOOK_BASE = 'http://127.0.0.1:8787';

const INITIATE_FORM =
  "Action=Webhook&Event=Call.Initiate&Account.Sid=AC8f2b0e5c1d4a4f7e9b3c6d2a1e0f9b8c&Property.Sid=PR2c7d9e1f3a5b4c6d8e0f1a2b3c4d5e6f&Property.Name=www.example-plumbing.com&Property.Type=Site&Call.Sid=CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c&Call.StartDate=2024-05-01+03%3A15%3A42&Call.From=%2B14155550123&Call.From.Country=US&Call.From.Region=CA&Call.From.City=San+Francisco&Call.To=%2B18005550199&Call.To.Name=Google+Ads+Number&Attribution.Source=google&Attribution.Medium=cpc&Attribution.Campaign=2024+spring+promo&Attribution.Content=variation+1&Session.Traffic.Type=Campaign&Session.Keywords=emergency+plumber&Session.ConversionUri=https%3A%2F%2Fwww.example-plumbing.com%2Fcontact%3Futm_source%3Dgoogle&Session.LandingUri=https%3A%2F%2Fwww.example-plumbing.com%2F%3Fgclid%3DEAIaIQobChMI&AnalyticsSession.CustomDimension1=returning&Google.Analytics.ClientId=GA1.2.1234567890.1714530000&Google.AdWords.ClickId=EAIaIQobChMIx8v2";
const COMPLETE_FORM =
  "Action=Webhook&Event=Call.Complete&Account.Sid=AC8f2b0e5c1d4a4f7e9b3c6d2a1e0f9b8c&Property.Sid=PR2c7d9e1f3a5b4c6d8e0f1a2b3c4d5e6f&Property.Name=www.example-plumbing.com&Property.Type=Site&Call.Sid=CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c&Call.StartDate=2024-05-01+03%3A15%3A42&Call.From=%2B14155550123&Call.From.Country=US&Call.From.Region=CA&Call.From.City=San+Francisco&Call.To=%2B18005550199&Call.To.Type=Dynamic&Call.To.Name=Google+Ads+Number&Call.Duration=187&Call.Disposition=ANSWERED&Call.Recording.Uri=https%3A%2F%2Frecordings.example.net%2FCA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c.mp3&Call.Endpoint=%2B14155550100&Call.Survey.Type=New+Lead&Call.Survey.Value=250&Call.Survey.Custom1=Boiler&Call.Prompts.Postcode=94103&Call.Prompts.Keys=1%2C94103&Attribution.Source=google&Attribution.Medium=cpc&Attribution.Campaign=2024+spring+promo&Attribution.Content=variation+1&Session.Traffic.Type=Campaign&Session.Keywords=emergency+plumber&Session.ConversionUri=https%3A%2F%2Fwww.example-plumbing.com%2Fcontact%3Futm_source%3Dgoogle&Session.LandingUri=https%3A%2F%2Fwww.example-plumbing.com%2F%3Fgclid%3DEAIaIQobChMI&AnalyticsSession.CustomDimension1=returning&Google.Analytics.ClientId=GA1.2.1234567890.1714530000&Google.AdWords.ClickId=EAIaIQobChMIx8v2";
const COMPLETE_JSON =
  "{\n  \"Action\": \"Webhook\",\n  \"Event\": \"Call.Complete\",\n  \"Account\": {\"Sid\": \"AC8f2b0e5c1d4a4f7e9b3c6d2a1e0f9b8c\"},\n  \"Property\": {\"Sid\": \"PR2c7d9e1f3a5b4c6d8e0f1a2b3c4d5e6f\", \"Name\": \"www.example-plumbing.com\", \"Type\": \"Site\"},\n  \"Call.Sid\": \"CA77aa00bb11cc22dd33ee44ff55aa66bb\",\n  \"Call.StartDate\": \"2024-05-01 09:02:10\",\n  \"Call.From\": \"anonymous\",\n  \"Call.From.Country\": \"\",\n  \"Call.From.Region\": \"\",\n  \"Call.From.City\": \"\",\n  \"Call.To\": \"+442071234567\",\n  \"Call.To.Type\": \"Static\",\n  \"Call.To.Name\": \"Main line\",\n  \"Call.Duration\": 0,\n  \"Call.Disposition\": \"NO ANSWER\"\n}";
const INITIATE_URL =
  "http://127.0.0.1:8787/hook?Action=Webhook&Event=Call.Initiate&Account.Sid=AC1&Property.Sid=PR1&Property.Name=example.com&Property.Type=Site&Call.Sid=CA1&Call.StartDate=2024-05-01%2003:15:42&Call.From=%2B14155550123&Call.From.Country=US&Call.From.Region=CA&Call.From.City=Oakland&Call.To=%2B18005550199&Call.To.Name=Main";
const EXAMPLE_CONFIG = `{
  "auth": {
    "token": {"value": "\${CALLHOOK_TOKEN}", "in": "path"}
  },
  "validation": {"mode": "lenient"},
  "response": {"always_200": false},
  "destinations": {
    "events-log": {
      "format": "canonical",
      "url": "http://127.0.0.1:9400/events"
    },
    "ga4": {
      "format": "ga4",
      "url": "http://127.0.0.1:9400/ga4/mp/collect?measurement_id=G-XXXXXXX&api_secret=\${GA4_API_SECRET}",
      "options": {"event_name": "phone_call"}
    },
    "google-ads": {
      "format": "google-ads",
      "url": "http://127.0.0.1:9400/google-ads",
      "headers": {"developer-token": "\${GOOGLE_ADS_DEVELOPER_TOKEN}"},
      "options": {"conversion_action": "customers/1234567890/conversionActions/987654321", "value": 50, "currency": "USD"}
    },
    "slack": {
      "format": "slack",
      "url": "http://127.0.0.1:9400/slack"
    },
    "crm": {
      "format": "template",
      "url": "http://127.0.0.1:9400/crm/leads",
      "options": {
        "body": {
          "lead_id": "{{ call.sid }}",
          "phone": "{{ call.from.number | default:\\"unknown\\" }}",
          "source": "{{ attribution.source | upper }}",
          "seconds": "{{ call.duration }}",
          "called_at_ms": "{{ call.start_date | epoch_ms }}",
          "note": "Call from {{ call.from.city | default:\\"somewhere\\" }} lasting {{ call.duration }}s"
        }
      }
    }
  },
  "routes": [
    {"name": "every-event", "to": ["events-log"]},
    {"name": "answered-long-calls",
     "when": {"Event": "Call.Complete", "call": {"disposition": "ANSWERED", "duration": {"$gte": 30}}},
     "to": ["ga4", "google-ads", "crm"]},
    {"name": "missed-calls-to-slack",
     "when": {"Call.Disposition": {"$in": ["NO ANSWER", "BUSY", "FAILED"]}},
     "to": ["slack"]}
  ]
}
`;

const mistake = (find, replace) => COMPLETE_FORM.replace(find, replace);
const VOICE_WEBHOOKS_SAMPLES = [
  { id: 'initiate', label: 'Valid Initiate (form)', text: INITIATE_FORM, initiate: true },
  { id: 'complete', label: 'Valid Complete (form)', text: COMPLETE_FORM, complete: true },
  { id: 'complete-json', label: 'Valid Complete, no answer (JSON)', text: COMPLETE_JSON },
  { id: 'initiate-url', label: 'Valid Initiate (GET URL)', text: INITIATE_URL },
  { id: 'plus', label: 'Mistake: unencoded + in Call.From',
    text: mistake('Call.From=%2B14155550123', 'Call.From=+14155550123') },
  { id: 'duration', label: 'Mistake: Duration "3m"', text: mistake('Call.Duration=187', 'Call.Duration=3m') },
  { id: 'no-sid', label: 'Mistake: missing Call.Sid', text: mistake(/&Call\.Sid=[^&]*/, '') },
  { id: 'lowercase', label: 'Mistake: "no answer" in lower case',
    text: mistake('Call.Disposition=ANSWERED', 'Call.Disposition=no+answer') },
  { id: 'date', label: 'Mistake: bad date 2023-02-29',
    text: mistake('Call.StartDate=2024-05-01', 'Call.StartDate=2023-02-29') },
];

// Other senders' webhooks: the composed examples of the senders' contracts (fake numbers and
// ids), and the edge cases their documentation names. A sample with `webhook` is posted to
// /hook/SOURCE/WEBHOOK: the path's word for which webhook it is.

// Twilio status callbacks: a form POST; CallStatus says the event.
const form = (pairs) => pairs.map(([name, value]) => `${name}=${value}`).join('&');
const twilioFields = (changes = {}, drop = []) => form([
  ['AccountSid', 'AC00000000000000000000000000000001'], ['ApiVersion', '2010-04-01'],
  ['CallSid', 'CA00000000000000000000000000000042'], ['CallStatus', 'completed'], ['CallDuration', '95'],
  ['Duration', '2'], ['Called', '%2B14155550199'], ['Caller', '%2B14155550101'], ['From', '%2B14155550101'],
  ['To', '%2B14155550199'], ['Direction', 'inbound'], ['CallbackSource', 'call-progress-events'],
  ['SequenceNumber', '0'], ['Timestamp', 'Tue%2C+14+Jan+2025+17%3A03%3A05+%2B0000'],
  ['FromCity', 'SAN+FRANCISCO'], ['FromState', 'CA'], ['FromZip', '94107'], ['FromCountry', 'US'],
  ['CallerCity', 'SAN+FRANCISCO'], ['CallerState', 'CA'], ['CallerZip', '94107'], ['CallerCountry', 'US'],
  ['ToCity', 'SAN+FRANCISCO'], ['ToState', 'CA'], ['ToZip', '94105'], ['ToCountry', 'US'],
  ['CalledCity', 'SAN+FRANCISCO'], ['CalledState', 'CA'], ['CalledZip', '94105'], ['CalledCountry', 'US'],
].filter(([name]) => !drop.includes(name)).map(([name, value]) => [name, changes[name] ?? value]));
const NO_CALLER_GEO = { FromCity: '', FromState: '', FromZip: '', FromCountry: '',
  CallerCity: '', CallerState: '', CallerZip: '', CallerCountry: '' };
const TWILIO_SAMPLES = [
  { id: 'twilio-initiate', label: 'Initiate: ringing callback', initiate: true,
    text: twilioFields({ CallStatus: 'ringing', Timestamp: 'Tue%2C+14+Jan+2025+17%3A01%3A30+%2B0000' },
      ['CallDuration', 'Duration']) },
  { id: 'twilio-complete', label: 'Complete: completed, 95 s', complete: true, text: twilioFields() },
  { id: 'twilio-no-answer', label: 'Complete: never answered (no-answer, 0 s)',
    text: twilioFields({ CallSid: 'CA00000000000000000000000000000043', CallStatus: 'no-answer',
      CallDuration: '0', Duration: '0' }) },
  { id: 'twilio-busy', label: 'Complete: busy',
    text: twilioFields({ CallSid: 'CA00000000000000000000000000000044', CallStatus: 'busy',
      CallDuration: '0', Duration: '0' }) },
  { id: 'twilio-anonymous', label: 'Complete: anonymous caller (+266696687)',
    text: twilioFields({ CallSid: 'CA00000000000000000000000000000045', From: '%2B266696687',
      Caller: '%2B266696687', ...NO_CALLER_GEO }) },
  { id: 'twilio-no-geo', label: 'Complete: no caller geo (empty From*)',
    text: twilioFields({ CallSid: 'CA00000000000000000000000000000046', ...NO_CALLER_GEO }) },
  { id: 'twilio-no-sid', label: 'Mistake: missing CallSid', text: twilioFields({}, ['CallSid']) },
  { id: 'twilio-status', label: 'Mistake: CallStatus "answered"', text: twilioFields({ CallStatus: 'answered' }) },
  { id: 'twilio-duration', label: 'Mistake: CallDuration "1m35s"', text: twilioFields({ CallDuration: '1m35s' }) },
];

// CallRail: a JSON POST of the call object; the path says which webhook (post-call without one).
const json = (object) => JSON.stringify(object, null, 2);
const CALLRAIL_POST_CALL = {
  id: 900000101, resource_id: 'CAL00000000000000000000000000000101', answered: true,
  business_phone_number: '+14155550150', call_type: 'answered', company_id: 'COM00000000000000000000000000000007',
  company_name: 'Example Plumbing', company_time_zone: 'America/Los_Angeles',
  created_at: '2025-01-14T09:01:30.120-08:00', customer_city: 'San Francisco', customer_country: 'US',
  customer_name: 'Pat Example', customer_phone_number: '+14155550101', customer_state: 'CA', direction: 'inbound',
  duration: 95, first_call: true, formatted_customer_phone_number: '415-555-0101',
  formatted_tracking_phone_number: '415-555-0199', gclid: 'EAIaIQobChMI-fake-gclid', keywords: 'emergency plumber',
  landing_page_url: 'https://www.example.com/plumbing?utm_source=google&utm_medium=cpc&utm_campaign=winter&gclid=EAIaIQobChMI-fake-gclid',
  lead_status: null, medium: 'cpc', campaign: 'winter',
  recording: 'https://app.callrail.com/calls/CAL00000000000000000000000000000101/recording/redirect?access_key=0000fake',
  recording_duration: '88',
  recording_player: 'https://app.callrail.com/calls/CAL00000000000000000000000000000101/recording?access_key=0000fake',
  referrer_domain: 'www.google.com', source: 'Google Ads', source_name: 'Website Pool',
  start_time: '2025-01-14T09:01:30.000-08:00', tags: [], tracker_id: 'TRK00000000000000000000000000000003',
  tracking_phone_number: '+14155550199', utm_campaign: 'winter', utm_content: 'ad-a', utm_medium: 'cpc',
  utm_source: 'google', utm_term: 'emergency plumber', value: null, voicemail: false,
  timestamp: '2025-01-14T09:03:20.500-08:00',
};
const callrail = (changes = {}, drop = []) => json(Object.fromEntries(
  Object.entries({ ...CALLRAIL_POST_CALL, ...changes }).filter(([name]) => !drop.includes(name))));
const CALLRAIL_UNANSWERED = { answered: false, call_type: 'missed', duration: 0, business_phone_number: null,
  recording: null, recording_duration: null, recording_player: null };
const CALLRAIL_SAMPLES = [
  { id: 'callrail-pre-call', label: 'Initiate: pre-call webhook', webhook: 'pre-call', initiate: true,
    text: callrail({ ...CALLRAIL_UNANSWERED, timestamp: '2025-01-14T09:01:30.400-08:00' }) },
  { id: 'callrail-post-call', label: 'Complete: post-call, answered', webhook: 'post-call', complete: true,
    text: callrail() },
  { id: 'callrail-unanswered', label: 'Complete: never answered (answered: false)', webhook: 'post-call',
    text: callrail({ ...CALLRAIL_UNANSWERED, id: 900000102, resource_id: 'CAL00000000000000000000000000000102' }) },
  { id: 'callrail-anonymous', label: 'Complete: anonymous caller, no geo', webhook: 'post-call',
    text: callrail({ id: 900000103, resource_id: 'CAL00000000000000000000000000000103',
      customer_phone_number: 'anonymous', formatted_customer_phone_number: '', customer_name: '',
      customer_city: '', customer_state: '', customer_country: '' }) },
  { id: 'callrail-no-geo', label: 'Complete: no caller geo', webhook: 'post-call',
    text: callrail({ id: 900000104, resource_id: 'CAL00000000000000000000000000000104' },
      ['customer_city', 'customer_state', 'customer_country']) },
  { id: 'callrail-no-id', label: 'Mistake: no call id (resource_id, id)', webhook: 'post-call',
    text: callrail({}, ['id', 'resource_id']) },
  { id: 'callrail-start', label: 'Mistake: start_time "01/14/2025 9:01 AM"', webhook: 'post-call',
    text: callrail({ start_time: '01/14/2025 9:01 AM' }) },
];

// CallTrackingMetrics: a JSON POST of the call; the path says start or end.
const CTM_END = {
  id: 100000201, account_id: 40001, name: 'Pat Example', search: 'emergency plumber',
  referrer: 'https://www.google.com/', location: 'https://www.example.com/plumbing?gclid=EAIaIQobChMI-fake-gclid',
  source: 'Google Ads', likelihood: null, duration: 110, talk_time: 95, ring_time: 15, direction: 'inbound',
  called_at: '2025-01-14 09:01 AM -08:00', unix_time: 1736874090, tracking_number: '+14155550199',
  tracking_number_format: '(415) 555-0199', tracking_label: 'Website Pool', business_number: '+14155550150',
  business_number_format: '(415) 555-0150', dial_status: 'completed', caller_number: '+14155550101',
  caller_number_format: '(415) 555-0101', caller_number_split: ['1', '415', '555', '0101'], is_new_caller: true,
  city: 'San Francisco', state: 'CA', country: 'US', postal_code: '94107',
  audio: 'https://calltrackingmetrics.com/accounts/AC000fake/recordings/RE000fake', tag_list: [], notes: '',
  medium: 'cpc', campaign: 'winter', ga: { gclid: 'EAIaIQobChMI-fake-gclid' },
};
const ctm = (changes = {}, drop = []) => json(Object.fromEntries(
  Object.entries({ ...CTM_END, ...changes }).filter(([name]) => !drop.includes(name))));
const CTM_SAMPLES = [
  { id: 'ctm-start', label: 'Initiate: start of call', webhook: 'start', initiate: true,
    text: ctm({}, ['duration', 'talk_time', 'ring_time', 'dial_status', 'audio']) },
  { id: 'ctm-end', label: 'Complete: end of call, answered', webhook: 'end', complete: true, text: ctm() },
  { id: 'ctm-no-answer', label: 'Complete: never answered (no-answer, 0 s talk)', webhook: 'end',
    text: ctm({ id: 100000202, dial_status: 'no-answer', duration: 25, talk_time: 0, ring_time: 25 }, ['audio']) },
  { id: 'ctm-anonymous', label: 'Complete: anonymous caller, no geo', webhook: 'end',
    text: ctm({ id: 100000203, name: '', caller_number: 'anonymous', caller_number_format: '',
      caller_number_split: [], city: '', state: '', country: '', postal_code: '' }) },
  { id: 'ctm-no-geo', label: 'Complete: no caller geo', webhook: 'end',
    text: ctm({ id: 100000204 }, ['city', 'state', 'country', 'postal_code']) },
  { id: 'ctm-no-id', label: 'Mistake: missing id', webhook: 'end', text: ctm({}, ['id']) },
];

// Ringba tracking pixels: a GET whose query is the pixel's tokens; event= says which pixel.
const ringba = (changes = {}, drop = []) => `${HOOK_BASE}/hook/ringba?` + form([
  ['event', 'finalized'], ['call_id', '00000000-0000-4000-8000-000000000301'], ['caller', '%2B14155550101'],
  ['state', 'CA'], ['zip', '94107'], ['duration', '95'], ['recording', 'https%3A%2F%2Fmedia.example.com%2Frec%2F301.mp3'],
  ['campaign', 'Plumbing%20Leads'], ['publisher', 'Pub%20One'], ['target', 'Example%20Plumbing'],
  ['utm_source', 'google'], ['utm_medium', 'cpc'], ['utm_campaign', 'winter'], ['utm_content', 'ad-a'],
  ['gclid', 'EAIaIQobChMI-fake-gclid'], ['revenue', '25.00'],
].filter(([name]) => !drop.includes(name)).map(([name, value]) => [name, changes[name] ?? value]));
const RINGBA_SAMPLES = [
  { id: 'ringba-incoming', label: 'Initiate: incoming pixel', initiate: true,
    text: ringba({ event: 'incoming' }, ['duration', 'recording', 'revenue']) },
  { id: 'ringba-finalized', label: 'Complete: finalized pixel, 95 s', complete: true, text: ringba() },
  { id: 'ringba-completed', label: 'Complete: completed pixel (connected)', text: ringba({ event: 'completed' }) },
  { id: 'ringba-unanswered', label: 'Complete: finalized, never connected (0 s)',
    text: ringba({ call_id: '00000000-0000-4000-8000-000000000302', duration: '0', recording: '', revenue: '0' }) },
  { id: 'ringba-anonymous', label: 'Complete: anonymous caller (empty caller)',
    text: ringba({ call_id: '00000000-0000-4000-8000-000000000303', caller: '' }) },
  { id: 'ringba-no-geo', label: 'Complete: no caller geo (empty state, zip)',
    text: ringba({ call_id: '00000000-0000-4000-8000-000000000304', state: '', zip: '' }) },
  { id: 'ringba-no-event', label: 'Mistake: no event in the pixel URL', text: ringba({}, ['event']) },
  { id: 'ringba-duration', label: 'Mistake: duration "1:35"', text: ringba({ duration: '1%3A35' }) },
];

// The senders a payload can come from. `kind`: how the sender sends it; `webhooks`: the words
// a request path may carry after /hook/SOURCE/ to say which webhook it is (the core's
// sender_path_events), for the senders whose body alone does not always tell.
const RINGBA_TRACKING_NUMBER = '+14155550199';
const SENDERS = [
  { id: 'voice-webhooks', label: 'Voice Webhooks', samples: VOICE_WEBHOOKS_SAMPLES, webhooks: [] },
  { id: 'twilio', label: 'Twilio', how: 'a form POST (status callback)', samples: TWILIO_SAMPLES, webhooks: [] },
  { id: 'callrail', label: 'CallRail', how: 'a JSON POST', samples: CALLRAIL_SAMPLES,
    webhooks: [['', '(none: post-call, in_progress an Initiate)'], ['pre-call', 'pre-call'],
      ['answered', 'answered (call routing complete)'], ['post-call', 'post-call'], ['updated', 'updated (call modified)'],
      ['outbound-post-call', 'outbound-post-call'], ['outbound-updated', 'outbound-updated']] },
  { id: 'ctm', label: 'CallTrackingMetrics', how: 'a JSON POST', samples: CTM_SAMPLES,
    webhooks: [['', '(none: told from dial_status)'], ['start', 'start'], ['end', 'end']] },
  { id: 'ringba', label: 'Ringba', how: 'a GET pixel (its query)', samples: RINGBA_SAMPLES, webhooks: [] },
];
const senderOf = (id) => SENDERS.find((s) => s.id === id) ?? SENDERS[0];
const ALL_SAMPLES = SENDERS.flatMap((s) => s.samples);
const sampleOf = (id) => ALL_SAMPLES.find((s) => s.id === id);
const sample = (id) => sampleOf(id).text;
const isSampleText = (text) => ALL_SAMPLES.some((s) => s.text === text);

const DEFAULT_SECRETS = 'CALLHOOK_TOKEN=demo-token\nGA4_API_SECRET=demo-ga4-secret\n' +
  'GOOGLE_ADS_DEVELOPER_TOKEN=demo-ads-token\n';
// An Initiate, its Complete, the Complete sent again (a duplicate), and a sweep.
function defaultSteps(senderId) {
  const { samples } = senderOf(senderId);
  const initiate = samples.find((s) => s.initiate);
  const complete = samples.find((s) => s.complete);
  const step = (at, s) => ({ type: 'payload', at, text: s.text, webhook: s.webhook ?? '' });
  return [step(0, initiate), step(30, complete), step(45, complete), { type: 'sweep', at: 14430 }];
}
const defaultState = () => ({
  v: 1, view: 'single', sender: 'voice-webhooks', kind: 'auto', webhook: '', payload: sample('complete'),
  config: EXAMPLE_CONFIG, steps: defaultSteps('voice-webhooks'),
});


// ---- small helpers --------------------------------------------------------------------------

const $ = (selector) => document.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

// JSON -> UTF-8 -> base64url, and back.
function encodeState(state) {
  let binary = '';
  for (const byte of new TextEncoder().encode(JSON.stringify(state))) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
function decodeState(text) {
  let b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  while (b64.length % 4) b64 += '=';
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = el('textarea', { class: 'offscreen', 'aria-hidden': 'true' });
    area.value = text;
    document.body.append(area);
    area.select();
    try {
      document.execCommand('copy');
    } catch { /* nothing more to try */ }
    area.remove();
    button?.focus();
  }
  if (button) {
    const label = button.textContent;
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = label; }, 1200);
  }
}

const shellQuote = (text) => `'${text.replace(/'/g, `'\\''`)}'`;

// ---- reading the inputs ---------------------------------------------------------------------

function detectKind(text) {
  const start = text.trimStart();
  if (/^(https?:\/\/|\/|\?)/i.test(start)) return 'url';
  if (start.startsWith('{')) return 'json';
  return 'form';
}

function parseSecrets(text) {
  const secrets = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/.exec(line);
    if (match) secrets[match[1]] = match[2].trim();
  }
  return secrets;
}

const resolveSecrets = (text, secrets) =>
  String(text).replace(/\$\{([A-Z0-9_]+)\}/g, (all, name) => secrets[name] ?? all);

// The query a GET payload carries: what follows the first '?' of a URL, up to any '#'; a text
// that is not a URL and has no '?' is a query as pasted (a Ringba pixel's tokens).
function queryOf(text) {
  const trimmed = text.trim();
  const at = trimmed.indexOf('?');
  let query = at >= 0 ? trimmed.slice(at + 1) : /^(https?:\/\/|\/)/i.test(trimmed) ? '' : trimmed;
  const hash = query.indexOf('#');
  if (hash >= 0) query = query.slice(0, hash);
  return query;
}

// The request the sender would make for a payload. Voice Webhooks go to the config's own /hook,
// with the path (or query) token and Basic credentials added as the config asks; another
// sender's go to its source, /hook/SOURCE[/WEBHOOK], with no credentials (the playground's
// sources have no auth).
function buildRequest(text, kind, config, secrets, source = null) {
  let path = '/hook';
  const auth = [];
  const headers = [];
  if (source) {
    path += `/${encodeURIComponent(source.name)}${source.webhook ? `/${encodeURIComponent(source.webhook)}` : ''}`;
  } else {
    const token = config?.auth?.token;
    if (token && typeof token.value === 'string') {
      const value = resolveSecrets(token.value, secrets);
      if (token.in === 'query') auth.push(`${encodeURIComponent(token.param ?? 'token')}=${encodeURIComponent(value)}`);
      else path += `/${encodeURIComponent(value)}`;
    }
    const basic = config?.auth?.basic;
    if (basic && typeof basic.username === 'string') {
      const pair = `${resolveSecrets(basic.username, secrets)}:${resolveSecrets(basic.password ?? '', secrets)}`;
      let binary = '';
      for (const byte of new TextEncoder().encode(pair)) binary += String.fromCharCode(byte);
      headers.push(['Authorization', `Basic ${btoa(binary)}`]);
    }
  }
  if (kind === 'url') {
    const query = queryOf(text);
    const full = [...auth, ...(query ? [query] : [])].join('&');
    return { method: 'GET', url: path + (full ? `?${full}` : ''), headers, body: '',
      payloadUrl: `/hook?${query}` };
  }
  const contentType = kind === 'json' ? 'application/json' : 'application/x-www-form-urlencoded';
  headers.push(['Content-Type', contentType]);
  return { method: 'POST', url: path + (auth.length ? `?${auth.join('&')}` : ''), headers, body: text,
    contentType };
}

// How a payload is read: as chosen, or detected from its text (a Ringba payload that is not
// JSON is a pixel's query, pasted with or without its URL).
function kindOf(text, chosen, senderId) {
  if (chosen !== 'auto') return chosen;
  const kind = detectKind(text);
  return senderId === 'ringba' && kind === 'form' ? 'url' : kind;
}

const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

// The source another sender's payloads are read through: the config's own source of that sender
// when it has one (its auth left out: the playground is for payloads, not signatures), else one
// named after the sender. A Ringba pixel has no token for the number dialled, so its source gets
// a Call.To default when it has none.
function playgroundSource(config, senderId) {
  const sources = isObject(config?.sources) ? config.sources : {};
  let name = Object.keys(sources).find((key) => isObject(sources[key]) && sources[key].sender === senderId);
  let source;
  let own = false;
  let droppedAuth = false;
  if (name) {
    const { auth, ...rest } = sources[name];
    source = rest;
    own = true;
    droppedAuth = auth !== undefined;
  } else {
    name = senderId in sources ? `playground-${senderId}` : senderId;
    source = { sender: senderId };
  }
  if (senderId === 'ringba' && !(isObject(source.defaults) && 'Call.To' in source.defaults)) {
    source = { ...source, defaults: { ...(isObject(source.defaults) ? source.defaults : {}), 'Call.To': RINGBA_TRACKING_NUMBER } };
  }
  return { name, source, own, droppedAuth };
}

// The config with the playground's source in it (the user's config otherwise as it is).
const withSource = (config, pick) =>
  JSON.stringify({ ...config, sources: { ...(isObject(config.sources) ? config.sources : {}), [pick.name]: pick.source } }, null, 2);

function curlFor(request) {
  const url = HOOK_BASE + request.url;
  const parts = [`curl -i${request.method === 'GET' ? '' : ' -X POST'} ${shellQuote(url)}`];
  for (const [name, value] of request.headers) parts.push(`-H ${shellQuote(`${name}: ${value}`)}`);
  if (request.method !== 'GET') parts.push(`--data-binary ${shellQuote(request.body)}`);
  return parts.join(' \\\n     ');
}

// ---- state ----------------------------------------------------------------------------------

let callhook = null;
let state = defaultState();
let engineCache = { key: null, engine: null };

function readState() {
  state.view = document.querySelector('input[name=view]:checked').value;
  state.sender = $('#sender').value;
  state.kind = $('#kind').value;
  state.webhook = $('#webhook').value;
  state.payload = $('#payload').value;
  state.config = $('#config').value;
  state.steps = [...document.querySelectorAll('#steps > li')].map((item) => {
    const at = Number(item.querySelector('.step-at').value) || 0;
    return item.dataset.type === 'sweep'
      ? { type: 'sweep', at }
      : { type: 'payload', at, text: item.querySelector('.step-text').value,
        webhook: item.querySelector('.step-webhook')?.value ?? '' };
  });
}

// The webhook words of a sender as <option>s, `value` chosen when it is one of them.
function webhookOptions(select, senderId, value) {
  const { webhooks } = senderOf(senderId);
  select.replaceChildren(...webhooks.map(([word, label]) => el('option', { value: word, text: label })));
  select.value = webhooks.some(([word]) => word === value) ? value : '';
}

// The sample lists and the webhook choice follow the sender.
function showSender() {
  const sender = senderOf(state.sender);
  for (const select of [$('#sample'), $('#step-sample')]) {
    const first = select.id === 'sample' ? [el('option', { value: '', text: 'Choose a sample…' })] : [];
    select.replaceChildren(...first, ...sender.samples.map(({ id, label }) => el('option', { value: id, text: label })));
  }
  webhookOptions($('#webhook'), sender.id, state.webhook);
  $('#webhook-pick').hidden = !sender.webhooks.length;
}

function writeState(next) {
  state = { ...defaultState(), ...next };
  if (!SENDERS.some((s) => s.id === state.sender)) state.sender = 'voice-webhooks';
  for (const radio of document.querySelectorAll('input[name=view]')) radio.checked = radio.value === state.view;
  $('#sender').value = state.sender;
  $('#kind').value = ['auto', 'url', 'form', 'json'].includes(state.kind) ? state.kind : 'auto';
  showSender();
  $('#payload').value = state.payload;
  $('#config').value = state.config;
  renderSteps(Array.isArray(state.steps) ? state.steps : []);
  showView();
}

// Choosing another sender: a sample in the payload (or nothing) becomes the new sender's
// Complete, and steps that are all samples become its sequence; anything pasted stays.
function changeSender() {
  readState();
  const sender = senderOf(state.sender);
  const next = { ...state };
  if (!state.payload.trim() || isSampleText(state.payload)) {
    const complete = sender.samples.find((s) => s.complete);
    next.payload = complete.text;
    next.webhook = complete.webhook ?? '';
    next.kind = 'auto';
  }
  if (state.steps.every((step) => step.type === 'sweep' || isSampleText(step.text))) {
    next.steps = defaultSteps(sender.id);
  }
  writeState(next);
}

function showView() {
  const sequence = state.view === 'sequence';
  $('#single-input').hidden = sequence;
  $('#single-output').hidden = sequence;
  $('#sequence-input').hidden = !sequence;
  $('#sequence-output').hidden = !sequence;
}

function stepItem(step) {
  const item = el('li', { class: 'step' });
  item.dataset.type = step.type;
  const at = el('input', { class: 'step-at', type: 'number', min: '0', step: '1', value: String(step.at ?? 0),
    'aria-label': 'Seconds after the first step' });
  let webhook = null;
  if (step.type !== 'sweep' && senderOf(state.sender).webhooks.length) {
    webhook = el('select', { class: 'step-webhook', 'aria-label': 'Step webhook' });
    webhookOptions(webhook, state.sender, step.webhook ?? '');
  }
  const head = el('div', { class: 'row' },
    el('strong', { text: step.type === 'sweep' ? 'Sweep' : 'Payload' }),
    el('label', {}, 'at +', at, ' s'),
    webhook ? el('label', {}, 'webhook ', webhook) : null,
    el('button', { type: 'button', class: 'small-button', 'aria-label': 'Move step up',
      onclick: () => {
        if (item.previousElementSibling) item.parentNode.insertBefore(item, item.previousElementSibling);
        schedule();
      } }, '↑'),
    el('button', { type: 'button', class: 'small-button', 'aria-label': 'Remove step',
      onclick: () => { item.remove(); schedule(); } }, 'Remove'));
  item.append(head);
  if (step.type === 'sweep') {
    item.append(el('p', { class: 'muted small',
      text: 'Looks at every stored record: an Initiate whose Complete is overdue becomes abandoned.' }));
  } else {
    const area = el('textarea', { class: 'step-text', rows: '3', spellcheck: 'false' });
    area.value = step.text ?? '';
    area.setAttribute('aria-label', 'Step payload');
    item.append(area);
  }
  item.addEventListener('focusin', () => item.setAttribute('aria-current', 'step'));
  item.addEventListener('focusout', () => item.removeAttribute('aria-current'));
  return item;
}

function renderSteps(steps) {
  $('#steps').replaceChildren(...steps.map(stepItem));
}

// ---- evaluation -----------------------------------------------------------------------------

function engineFor(configText, secretsText, secrets) {
  const key = `${configText}\u0000${secretsText}`;
  if (engineCache.key !== key) {
    engineCache.engine?.close();
    engineCache = { key, engine: null };
    try {
      engineCache.engine = callhook.createEngine(configText, { secrets });
    } catch { /* checkConfig has listed why */ }
  }
  return engineCache.engine;
}

function checkConfig(configText, secrets) {
  const result = callhook.checkConfig(configText, { secrets });
  let parsed = null;
  let jsonError = null;
  try {
    parsed = JSON.parse(configText);
  } catch (error) {
    jsonError = error.message;
  }
  const list = $('#config-errors');
  list.replaceChildren(...result.errors.map((problem) => el('li', { class: 'error' },
    el('code', { class: 'pointer', text: problem.field === '' ? '(root)' : problem.field }), ' ',
    el('span', { class: 'code-name', text: problem.code }), ': ', problem.message,
    problem.code === 'invalid_json' && jsonError ? ` (${jsonError})` : '')));
  const status = $('#config-status');
  status.textContent = result.valid ? 'Config is valid.'
    : `Config has ${result.errors.length} problem${result.errors.length === 1 ? '' : 's'}:`;
  status.className = `small ${result.valid ? 'ok' : 'error'}`;
  return { valid: result.valid, parsed };
}

function payloadOptions(config) {
  const options = {};
  const validation = config?.validation;
  if (validation?.mode === 'strict' || validation?.mode === 'lenient') options.mode = validation.mode;
  if (validation?.limits && typeof validation.limits === 'object') options.limits = validation.limits;
  return options;
}

function inspectPayload(text, kind, config, secrets) {
  const request = buildRequest(text, kind, config, secrets);
  const options = payloadOptions(config);
  let inspection;
  try {
    inspection = kind === 'url'
      ? callhook.inspect('', { ...options, url: request.payloadUrl })
      : callhook.inspect(text, { ...options, contentType: request.contentType });
  } catch {
    inspection = callhook.inspect(text, {}); // limits in the config were malformed
  }
  return { request, inspection };
}

// The package reads another sender's webhook only through an engine with a source for it: when
// the config has problems, an engine of that source alone reads the payload (nothing is routed).
let readerCache = { key: null, engine: null };
function readerFor(pick, own, secrets) {
  const mode = own?.validation?.mode;
  const configs = [{ sources: { [pick.name]: pick.source } }, { sources: { [pick.name]: { sender: pick.source.sender } } }];
  if (mode === 'strict' || mode === 'lenient') configs.unshift({ ...configs[0], validation: { mode } });
  const key = JSON.stringify(configs[0]);
  if (readerCache.key !== key) {
    readerCache.engine?.close();
    readerCache = { key, engine: null };
    for (const config of configs) {
      try {
        readerCache.engine = callhook.createEngine(JSON.stringify(config), { secrets });
        break;
      } catch { /* try the plainer source */ }
    }
  }
  return readerCache.engine;
}

// What the config panel says about the source a sender's payloads go through.
function showSource(pick) {
  const note = $('#sender-note');
  note.hidden = !pick;
  if (!pick) return;
  const sender = senderOf(pick.source.sender);
  const words = sender.webhooks.filter(([word]) => word).map(([word]) => word);
  const path = `/hook/${pick.name}${words.length ? `[/${words.join('|')}]` : ''}`;
  note.replaceChildren(`${sender.label} payloads are sent as ${sender.how} to `, el('code', { text: path }),
    ' and read by ', pick.own ? 'this config\'s source ' : 'a source the playground adds to this config: ',
    el('code', { text: `"${pick.name}": ${JSON.stringify(pick.source)}` }),
    pick.droppedAuth ? ' (its auth left out: the playground checks payloads, not signatures).'
      : pick.own ? '.' : ' (no auth: the playground checks payloads, not signatures).');
}

function evaluate() {
  if (!callhook) return;
  readState();
  const started = performance.now();
  const secretsText = $('#secrets').value;
  const secrets = parseSecrets(secretsText);
  // Another sender's payloads go through a source of the config (the playground's, merged in).
  let configText = state.config;
  let pick = null;
  let own = null;
  if (state.sender !== 'voice-webhooks') {
    try {
      own = JSON.parse(state.config);
    } catch { /* checkConfig lists why */ }
    pick = playgroundSource(isObject(own) ? own : {}, state.sender);
    if (isObject(own)) configText = withSource(own, pick);
  }
  showSource(pick);
  const { valid, parsed } = checkConfig(configText, secrets);
  const engine = valid ? engineFor(configText, secretsText, secrets) : null;
  const reader = pick ? engine ?? readerFor(pick, isObject(own) ? own : null, secrets) : null;
  if (state.view === 'sequence') evaluateSequence(engine, parsed, secrets, pick);
  else evaluateSingle(engine, parsed, secrets, pick, reader);
  const ms = performance.now() - started;
  $('#timing').textContent = `Last evaluation: ${ms.toFixed(1)} ms.`;
  $('#status').textContent = `Evaluated in ${ms.toFixed(1)} ms${valid ? '' : ' (config has problems: no routing)'}.`;
  history.replaceState(null, '', `#state=${encodeState(state)}`);
  document.body.dataset.evaluations = String(Number(document.body.dataset.evaluations ?? 0) + 1);
}

let lastOutputs = { response: '', event: '' };

// The sender's own fields as decoded, for the fields table (its findings name them).
function decodedPairs(text, kind, request) {
  try {
    return kind === 'url' ? callhook.parse('', { url: request.payloadUrl })
      : callhook.parse(text, { contentType: request.contentType });
  } catch {
    return []; // the verdict says why it could not be decoded
  }
}

const NO_VERDICT = { valid: false, event: null, errors: [], warnings: [] };
const nowSeconds = () => Math.floor(Date.now() / 1000);

function evaluateSingle(engine, config, secrets, pick, reader) {
  const kind = kindOf(state.payload, state.kind, state.sender);
  $('#detected').textContent = state.kind === 'auto'
    ? `read as ${{ url: 'a GET URL', json: 'a JSON body', form: 'a form body' }[kind]}` : '';
  let request;
  let outcome = null;
  let event = '';
  if (pick) {
    // The engine reads the sender's webhook (one pass: verdict, canonical event, routes).
    request = buildRequest(state.payload, kind, config, secrets, { name: pick.name, webhook: state.webhook });
    try {
      outcome = reader?.handle({ method: request.method, url: request.url, headers: request.headers,
        body: request.body }, { now: nowSeconds() }) ?? null;
    } catch { /* no verdict to show */ }
    renderFields({ fields: decodedPairs(state.payload, kind, request), verdict: outcome?.verdict ?? NO_VERDICT },
      senderOf(state.sender).label);
    event = outcome?.event ? JSON.stringify(outcome.event, null, 2) : '';
  } else {
    const inspected = inspectPayload(state.payload, kind, config, secrets);
    request = inspected.request;
    renderFields(inspected.inspection);
    event = inspected.inspection.event ? JSON.stringify(inspected.inspection.event, null, 2) : '';
  }
  $('#curl').textContent = curlFor(request);
  $('#event').textContent = event || 'No canonical event: the payload is not valid.';
  lastOutputs.event = event;

  if (!engine) {
    $('#response-status').textContent = '—';
    $('#response-status').className = 'badge';
    $('#response').textContent = 'Fix the config to see the engine\'s answer.';
    $('#routes').replaceChildren(el('li', { class: 'muted', text: 'No engine: the config has problems.' }));
    $('#deliveries').replaceChildren();
    lastOutputs.response = '';
    return;
  }
  if (!pick) {
    outcome = engine.handle({ method: request.method, url: request.url, headers: request.headers,
      body: request.body }, { now: nowSeconds() });
  }
  renderResponse(outcome.response);
  renderRoutes(outcome.routes, outcome);
  renderDeliveries(outcome.deliveries, engine, config);
}

// A value with its leading and trailing spaces made visible (an unencoded + arrives as one).
function valueNode(value) {
  const [, lead, core, trail] = /^(\s*)([\s\S]*?)(\s*)$/.exec(value);
  const spaces = (text) => text ? el('span', { class: 'space', title: 'space', text: '␣'.repeat(text.length) }) : null;
  return el('code', { class: 'value' }, spaces(lead), core, spaces(trail));
}

function renderFields({ fields, verdict }, from = null) {
  const byField = new Map();
  const add = (finding, level) => {
    if (!byField.has(finding.field)) byField.set(finding.field, []);
    byField.get(finding.field).push({ ...finding, level });
  };
  verdict.errors.forEach((finding) => add(finding, 'error'));
  verdict.warnings.forEach((finding) => add(finding, 'warning'));

  const findingList = (findings) => el('ul', { class: 'findings' }, findings.map((finding) =>
    el('li', { class: finding.level },
      el('span', { class: 'level', text: finding.level === 'error' ? 'Error' : 'Warning' }), ' ',
      finding.message, ' ', el('span', { class: 'code-name', text: `(${finding.code})` }))));

  const seen = new Set();
  const rows = fields.map(([name, value]) => {
    const findings = seen.has(name) ? [] : (byField.get(name) ?? []);
    seen.add(name);
    return el('tr', { 'data-field': name, class: findings.some((f) => f.level === 'error') ? 'has-error'
      : findings.length ? 'has-warning' : null },
    el('th', { scope: 'row' }, el('code', { text: name || '(empty name)' })),
    el('td', {}, valueNode(value)),
    el('td', {}, findings.length ? findingList(findings) : el('span', { class: 'ok', text: 'ok' })));
  });
  for (const [name, findings] of byField) {
    if (seen.has(name)) continue;
    rows.push(el('tr', { 'data-field': name, class: findings.some((f) => f.level === 'error') ? 'has-error' : 'has-warning' },
      el('th', { scope: 'row' }, name ? el('code', { text: name }) : el('em', { text: 'whole payload' })),
      el('td', {}, el('em', { class: 'muted', text: name ? 'not sent' : '' })),
      el('td', {}, findingList(findings))));
  }
  $('#fields tbody').replaceChildren(...rows);

  const count = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const verdictNode = $('#verdict');
  verdictNode.className = verdict.valid ? 'ok' : 'error';
  verdictNode.textContent = `${verdict.valid ? 'Valid' : 'Invalid'} ${verdict.event ?? 'payload (no known Event)'}` +
    `${from ? ` from ${from}` : ''}: ` +
    `${count(fields.length, 'field')}, ${count(verdict.errors.length, 'error')}, ${count(verdict.warnings.length, 'warning')}.`;
}

function renderResponse(response) {
  const badge = $('#response-status');
  badge.textContent = String(response.status);
  badge.className = `badge ${response.status >= 200 && response.status < 300 ? 'ok' : 'error'}`;
  const headers = response.headers.map(([name, value]) => `${name}: ${value}`).join('\n');
  const text = `${headers}${headers ? '\n\n' : ''}${pretty(response.body)}`;
  $('#response').textContent = text;
  lastOutputs.response = response.body;
}

function renderRoutes(routes, outcome) {
  const items = routes.map((route) => el('li', { class: route.matched ? 'matched' : 'unmatched', 'data-route': route.name },
    el('strong', { text: route.name }), ' ',
    el('span', { class: route.matched ? 'badge ok' : 'badge', text: route.matched ? 'matched' : 'not matched' }),
    route.skipped.length ? el('ul', { class: 'findings' },
      route.skipped.map((reason) => el('li', { class: 'warning', text: `skipped ${reason}` }))) : null));
  if (outcome.duplicate) items.unshift(el('li', { class: 'warning', text: 'Duplicate: this event of this call was accepted before; nothing is routed.' }));
  if (!routes.length) {
    const refused = outcome.response.status >= 300 ||
      /"status":"rejected"/.test(outcome.response.body);
    items.push(el('li', { class: 'muted', text: refused
      ? `Nothing routed: the request was refused (${outcome.response.status}, see the response).`
      : 'The config has no routes.' }));
  }
  $('#routes').replaceChildren(...items);
}

// ---- deliveries: the exact requests, secrets masked -------------------------------------------

// Engine.sealDelivery's text for people: each secret reference (${NAME}, ${NAME:pct},
// ${NAME:json}) as ${NAME}, and seal's own escapes back to what they stand for ($$ is a $ of the
// request's own; $xHH a byte that is not UTF-8, shown as \xHH).
const unseal = (text) => String(text ?? '').replace(/\$(?:(\$)|\{([A-Z0-9_]+)(?::[a-z]+)?\}|x([0-9A-F]{2}))/g,
  (all, dollar, name, hex) => (dollar ? '$' : name ? `\${${name}}` : `\\x${hex}`));

function maskedRequest(engine, delivery) {
  const sealed = JSON.parse(engine.sealDelivery(delivery));
  return {
    method: unseal(sealed.method), url: unseal(sealed.url),
    headers: (sealed.headers ?? []).map(([name, value]) => [name, unseal(value)]), body: unseal(sealed.body),
  };
}

// Stands for an OAuth access token in a request that is shown, never sent.
const TOKEN_PLACEHOLDER = 'playground-access-token-0f3a9c';

function replaceToken(request, words) {
  const swap = (text) => text.split(TOKEN_PLACEHOLDER).join(words);
  return { ...request, url: swap(request.url), body: swap(request.body),
    headers: request.headers.map(([name, value]) => [name, swap(value)]) };
}

// What a delivery will send, as the engine plans it (engine.planSend, when the package has it:
// the destination's credentials added, the token request first for oauth2), masked throughout.
// Without planSend, the delivery as stored, and the config says whether a token is added.
function deliveryView(engine, delivery, config) {
  const stored = maskedRequest(engine, delivery);
  const view = { request: stored, tokenRequest: null, tokenUrl: null, notSent: null };
  if (typeof engine.planSend === 'function') {
    try {
      const sealed = engine.sealDelivery(delivery);
      const nowMs = Date.now();
      let plan = engine.planSend(sealed, { accessToken: '', nowMs });
      if (plan.plan === 'token') {
        view.tokenRequest = maskedRequest(engine, plan.request);
        view.tokenUrl = view.tokenRequest.url;
        plan = engine.planSend(sealed, { accessToken: TOKEN_PLACEHOLDER, nowMs });
      }
      if (plan.plan === 'send') {
        view.request = replaceToken(maskedRequest(engine, plan.request),
          view.tokenUrl ? `<access token from ${view.tokenUrl}>` : '<access token>');
      } else if (plan.plan === 'dead') {
        view.notSent = plan.verdict?.reason ?? plan.verdict?.code ?? 'the engine would not send it';
      }
      return view;
    } catch { /* an older package: fall back to the config below */ }
  }
  const auth = config?.destinations?.[delivery.destination]?.auth;
  if (auth?.type === 'oauth2') {
    view.tokenUrl = typeof auth.token_url === 'string' ? auth.token_url
      : 'https://oauth2.googleapis.com/token';
  }
  return view;
}

const requestText = (r) => `${r.method} ${r.url}\n` +
  r.headers.map(([name, value]) => `${name}: ${value}`).join('\n') + `\n\n${r.body}`;

function formattedBody(body) {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return null;
  }
}

function renderDeliveries(deliveries, engine, config) {
  if (!deliveries.length) {
    $('#deliveries').replaceChildren(el('p', { class: 'muted', text: 'No deliveries.' }));
    return;
  }
  const note = el('p', { class: 'muted small delivery-note' },
    'Each request exactly as it would be sent, with every secret shown as ', el('code', { text: '${NAME}' }),
    ' (as callhook keeps deliveries at rest); the values go in only when it is sent.');
  $('#deliveries').replaceChildren(note, ...deliveries.map((delivery) => {
    const view = deliveryView(engine, delivery, config);
    const text = requestText(view.request);
    const formatted = formattedBody(view.request.body);
    return el('article', { class: 'delivery', 'data-destination': delivery.destination },
      el('div', { class: 'row' },
        el('h3', {}, el('span', { class: 'muted', text: `${delivery.route} → ` }), delivery.destination),
        el('span', { class: 'row-buttons' },
          el('button', { type: 'button', onclick: (event) => copyText(text, event.currentTarget) }, 'Copy request'),
          el('button', { type: 'button', onclick: (event) => copyText(view.request.body, event.currentTarget) }, 'Copy body'))),
      view.tokenUrl ? el('p', { class: 'oauth-note small' },
        'OAuth 2.0: when it is sent, an access token from ', el('code', { text: view.tokenUrl }),
        ' is added (', el('code', { text: 'Authorization: Bearer …' }), '); callhook asks the token URL for one first',
        view.tokenRequest ? ' with the token request below.' : '.') : null,
      view.notSent ? el('p', { class: 'warning small not-sent', text: `Not sent: ${view.notSent}` }) : null,
      el('pre', { class: 'code request', 'aria-label': `Request to ${delivery.destination}`, text }),
      view.tokenRequest ? el('details', { class: 'token-request' },
        el('summary', { text: 'Token request' }),
        el('pre', { class: 'code', text: requestText(view.tokenRequest) })) : null,
      formatted !== null && formatted !== view.request.body ? el('details', { class: 'formatted' },
        el('summary', { text: 'Body, formatted' }), el('pre', { class: 'code', text: formatted })) : null);
  }));
}

// ---- sequence -------------------------------------------------------------------------------

function evaluateSequence(engine, config, secrets, pick) {
  const list = $('#timeline');
  if (!engine) {
    list.replaceChildren(el('li', { class: 'muted', text: 'Fix the config to play the sequence.' }));
    return;
  }
  const start = Math.floor(Date.now() / 1000);
  const records = new Map(); // record key (the engine names it) -> record text
  const items = [];
  state.steps.forEach((step, index) => {
    const now = start + Math.max(0, Math.floor(step.at));
    const label = `${index + 1}. +${Math.floor(step.at)} s`;
    if (step.type === 'sweep') {
      const outcomes = [...records.entries()].map(([key, record]) => {
        const outcome = engine.sweep(record, now);
        if (outcome.record !== null) records.set(key, outcome.record);
        return outcome;
      });
      const deliveries = outcomes.flatMap((outcome) => outcome.deliveries);
      const abandoned = outcomes.filter((outcome) => outcome.event || outcome.deliveries.length || outcome.record).length;
      items.push(timelineItem(label, 'sweep', `looked at ${records.size} record${records.size === 1 ? '' : 's'}` +
        (abandoned ? `, ${abandoned} changed` : ', nothing due'), false, deliveries, null, engine));
      return;
    }
    const kind = kindOf(step.text, 'auto', state.sender);
    // Another sender's step goes to its source; the engine's verdict names its event.
    const { request, inspection } = pick
      ? { request: buildRequest(step.text, kind, config, secrets, { name: pick.name, webhook: step.webhook }), inspection: null }
      : inspectPayload(step.text, kind, config, secrets);
    // As a shell does: prepare once, read the record the engine names, decide on it.
    const prepared = engine.prepare({ method: request.method, url: request.url, headers: request.headers,
      body: request.body }, { now });
    const outcome = prepared.decide({ now, record: records.get(prepared.record_key) ?? null });
    prepared.close();
    if (outcome.record !== null) records.set(outcome.record_key, outcome.record);
    let status = '';
    try {
      status = JSON.parse(outcome.response.body).status ?? JSON.parse(outcome.response.body).title ?? '';
    } catch { /* not JSON */ }
    items.push(timelineItem(label, `${outcome.response.status} ${status}`.trim(),
      (inspection ?? outcome).verdict?.event ?? 'unknown event', outcome.duplicate, outcome.deliveries, outcome.response, engine));
  });
  list.replaceChildren(...items);
  if (!items.length) list.append(el('li', { class: 'muted', text: 'Add steps to play them.' }));
}

function timelineItem(label, status, what, duplicate, deliveries, response, engine) {
  const ok = status === 'sweep' || status.startsWith('2');
  return el('li', { class: `moment${duplicate ? ' duplicate' : ''}` },
    el('div', { class: 'row' },
      el('span', { class: 'when', text: label }),
      el('span', { class: `badge ${ok ? 'ok' : 'error'}`, text: status }),
      el('span', { text: what }),
      duplicate ? el('span', { class: 'badge warning', text: 'duplicate' }) : null,
      el('span', { class: 'muted', text: `${deliveries.length} deliver${deliveries.length === 1 ? 'y' : 'ies'}` })),
    deliveries.length ? el('ul', { class: 'fired' }, deliveries.map((d) =>
      el('li', {}, el('code', { text: `${d.route} → ${d.destination}` }), (() => {
        const masked = maskedRequest(engine, d);
        return ` ${masked.method} ${masked.url}`;
      })()))) : null,
    response ? el('details', {}, el('summary', { text: 'Response body' }), el('pre', { class: 'code', text: pretty(response.body) })) : null);
}

// ---- wiring ---------------------------------------------------------------------------------

let timer = null;
function schedule() {
  clearTimeout(timer);
  timer = setTimeout(evaluate, 50);
}

function loadFromHash() {
  const match = /^#state=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (!match) return false;
  try {
    const loaded = decodeState(match[1]);
    if (!loaded || typeof loaded !== 'object') throw new Error('not an object');
    writeState({
      view: loaded.view === 'sequence' ? 'sequence' : 'single',
      sender: typeof loaded.sender === 'string' ? loaded.sender : 'voice-webhooks',
      webhook: typeof loaded.webhook === 'string' ? loaded.webhook : '',
      kind: typeof loaded.kind === 'string' ? loaded.kind : 'auto',
      payload: typeof loaded.payload === 'string' ? loaded.payload : '',
      config: typeof loaded.config === 'string' ? loaded.config : EXAMPLE_CONFIG,
      steps: Array.isArray(loaded.steps) ? loaded.steps.filter((s) => s && typeof s === 'object') : [],
    });
    return true;
  } catch {
    $('#status').textContent = 'The link\'s state could not be read; showing the defaults.';
    return false;
  }
}

function setUp() {
  const sampleSelect = $('#sample');
  const stepSample = $('#step-sample');
  sampleSelect.addEventListener('change', () => {
    if (!sampleSelect.value) return;
    const chosen = sampleOf(sampleSelect.value);
    $('#payload').value = chosen.text;
    $('#webhook').value = chosen.webhook ?? '';
    $('#kind').value = 'auto';
    schedule();
  });
  $('#sender').addEventListener('change', () => { changeSender(); schedule(); });
  $('#add-step').addEventListener('click', () => {
    const steps = [...document.querySelectorAll('#steps .step-at')].map((input) => Number(input.value) || 0);
    const chosen = sampleOf(stepSample.value);
    $('#steps').append(stepItem({ type: 'payload', at: steps.length ? Math.max(...steps) + 30 : 0,
      text: chosen.text, webhook: chosen.webhook ?? '' }));
    schedule();
  });
  $('#add-sweep').addEventListener('click', () => {
    const steps = [...document.querySelectorAll('#steps .step-at')].map((input) => Number(input.value) || 0);
    $('#steps').append(stepItem({ type: 'sweep', at: (steps.length ? Math.max(...steps) : 0) + 14430 }));
    schedule();
  });
  for (const radio of document.querySelectorAll('input[name=view]')) {
    radio.addEventListener('change', () => { readState(); showView(); schedule(); });
  }
  document.querySelector('.layout').addEventListener('input', schedule);
  $('#kind').addEventListener('change', schedule);
  $('#copy-curl').addEventListener('click', (event) => copyText($('#curl').textContent, event.currentTarget));
  for (const button of document.querySelectorAll('button[data-copy]')) {
    button.addEventListener('click', () => copyText(lastOutputs[button.dataset.copy], button));
  }
  $('#share').addEventListener('click', (event) => { evaluate(); copyText(location.href, event.currentTarget); });
  window.addEventListener('hashchange', () => { if (loadFromHash()) schedule(); });

  $('#secrets').value = DEFAULT_SECRETS;
  if (!loadFromHash()) writeState(defaultState());
}

setUp();
try {
  // Imported here rather than statically so a missing vendor/ gets a message, not a blank page.
  const { init } = await import('./vendor/index.js');
  callhook = await init();
  evaluate();
} catch (error) {
  $('#status').textContent = `The engine could not load (run bash examples/playground/build.sh): ${error.message}`;
  $('#status').className = 'status error';
}

if (/^https?:$/.test(location.protocol) && 'serviceWorker' in navigator) {
  navigator.serviceWorker.register('./sw.js').catch(() => { /* offline use is a bonus */ });
}
