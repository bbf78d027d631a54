// Loopback stand-ins of the destination platforms (Google OAuth, Google Ads conversion uploads,
// GA4 Measurement Protocol, Meta Conversions API), written from the published contract in
// the destinations contract and nothing else. Tests of the Node function, the
// Worker under workerd, the Fastly host and the CLI point their endpoints here, so no test ever
// talks to a real platform. The checks are the contract's: a stand-in that accepts more than the
// platform would hide delivery bugs. Where the contract leaves a detail open (exact error
// wording, which error code a malformed field gets) the choice is marked "stand-in" below.
//
//   const p = await startPlatforms({ oauth: { expiresIn: 60 } });
//   ... point the config's endpoints at p.url (a path prefix such as `${p.url}/googleads` is fine)
//   await p.close();
import { createHash, createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';

/** SHA-256 of the UTF-8 text as lower-case hex, as every platform wants hashed identifiers. */
export function sha256Hex(text) {
  return createHash('sha256').update(String(text), 'utf8').digest('hex');
}

/**
 * A phone number as Meta wants it before hashing: digits only, country code included, no `+`
 * and no international-prefix zeros ('+1 (650) 555-1212' → '16505551212'). Google wants the
 * same digits with a leading `+` ('+' + e164Digits(n)).
 */
export function e164Digits(number) {
  return String(number).replace(/\D/g, '').replace(/^0+/, '');
}

const HEX64 = /^[0-9a-f]{64}$/;
const DEFAULT_SCOPE = 'https://www.googleapis.com/auth/adwords';

function randomId(bytes = 12) {
  return randomBytes(bytes).toString('base64url');
}

function tryJson(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function send(res, status, body, headers = {}) {
  if (res.destroyed || res.headersSent) return;
  if (body === undefined || body === null) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

// ---------------------------------------------------------------------------------------------
// Google REST conventions shared by the Ads routes

const GRPC_STATUS = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
  409: 'ABORTED', 429: 'RESOURCE_EXHAUSTED', 499: 'CANCELLED', 500: 'INTERNAL',
  501: 'UNIMPLEMENTED', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
};

const ENVELOPE_MESSAGES = {
  400: 'Request contains an invalid argument.',
  401: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
  403: 'The caller does not have permission',
  429: 'Resource has been exhausted (e.g. check quota).',
  500: 'Internal error encountered.',
  503: 'The service is currently unavailable.',
  504: 'The request deadline was exceeded.',
};

// Stand-in wording for the Ads errors this file emits; the first one is the contract's text.
// Clients must never parse these (the contract says so), so paraphrases are enough.
const ADS_MESSAGES = {
  'conversionUploadError.TOO_RECENT_EVENT': 'The click associated with the given identifier or iOS URL parameter occurred less than 6 hours ago. Retry after 6 hours have passed.',
  'conversionUploadError.EXPIRED_EVENT': 'The click associated with the given identifier or iOS URL parameter is older than the conversion action\'s click-through lookback window.',
  'conversionUploadError.TOO_RECENT_CONVERSION_ACTION': 'The conversion action was created less than 6 hours ago. Retry after 6 hours have passed.',
  'conversionUploadError.EVENT_NOT_FOUND': 'The conversion could not be attributed to a click.',
  'conversionUploadError.CONVERSION_PRECEDES_EVENT': 'The conversion happened before the click.',
  'conversionUploadError.UNPARSEABLE_GCLID': 'The gclid could not be decoded.',
  'conversionUploadError.UNPARSEABLE_GBRAID': 'The gbraid could not be decoded.',
  'conversionUploadError.UNPARSEABLE_WBRAID': 'The wbraid could not be decoded.',
  'conversionUploadError.GBRAID_WBRAID_BOTH_SET': 'Only one of gbraid and wbraid may be set.',
  'conversionUploadError.ORDER_ID_ALREADY_IN_USE': 'A conversion with this order id was already recorded for this conversion action; this one was not processed.',
  'conversionUploadError.DUPLICATE_ORDER_ID': 'The request holds more than one conversion with this order id.',
  'conversionUploadError.CLICK_CONVERSION_ALREADY_EXISTS': 'A conversion for this click and conversion date time already exists.',
  'conversionUploadError.DUPLICATE_CLICK_CONVERSION_IN_REQUEST': 'The request holds this click and conversion date time more than once.',
  'conversionUploadError.CALL_CONVERSION_ALREADY_EXISTS': 'A conversion for this call and conversion date time already exists.',
  'conversionUploadError.DUPLICATE_CALL_CONVERSION_IN_REQUEST': 'The request holds this call and conversion date time more than once.',
  'conversionUploadError.UNPARSEABLE_CALLERS_PHONE_NUMBER': 'The caller id is not a phone number in E.164 format.',
  'conversionUploadError.CONVERSION_PRECEDES_CALL': 'The conversion happened before the call started.',
  'conversionUploadError.TOO_RECENT_CALL': 'The call occurred less than 6 hours ago. Retry after 6 hours have passed.',
  'conversionUploadError.CALL_NOT_FOUND': 'The call could not be found.',
  'conversionUploadError.CLICK_NOT_FOUND': 'The user identifiers could not be matched to a click.',
  'conversionUploadError.INVALID_USER_IDENTIFIER': 'The user identifier is not a SHA-256 hash of normalized user-provided data.',
  'conversionUploadError.UNSUPPORTED_USER_IDENTIFIER': 'Only hashed_email and hashed_phone_number user identifiers are accepted.',
  'conversionUploadError.NO_CONVERSION_ACTION_FOUND': 'The conversion action was not found in this account.',
  'conversionUploadError.INVALID_CONVERSION_ACTION_TYPE': 'The conversion action is not an upload conversion action.',
  'conversionUploadError.TOO_MANY_CONVERSIONS_IN_REQUEST': 'The request holds more than 2000 conversions.',
  'conversionUploadError.INVALID_JOB_ID': 'The job id must be in [0, 2^31).',
  'internalError.INTERNAL_ERROR': 'An internal error has occurred.',
  'internalError.TRANSIENT_ERROR': 'A transient error occurred. Retry the request.',
  'internalError.DEADLINE_EXCEEDED': 'The request took longer than a deadline.',
  'requestError.REQUIRED_FIELD_MISSING': 'A required field was not specified.',
  'requestError.RESOURCE_NAME_MALFORMED': 'The resource name is malformed.',
  'dateError.INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET': 'The date time must be formatted as yyyy-mm-dd hh:mm:ss+|-hh:mm.',
  'dateError.INVALID_FIELD_VALUES_IN_DATE_TIME': 'The date time holds out-of-range field values.',
  'dateError.LATER_THAN_MAXIMUM_DATE': 'The date is later than the maximum allowed date.',
  'fieldError.VALUE_MUST_BE_UNSET': 'This field must not be set.',
  'fieldError.INVALID_VALUE': 'The field holds an invalid value.',
  'collectionSizeError.TOO_MANY': 'Too many elements.',
  'partialFailureError.PARTIAL_FAILURE_MODE_REQUIRED': 'The partial failure field was false in the request. This method requires this field be set to true.',
  'authenticationError.OAUTH_TOKEN_EXPIRED': 'OAuth token in the header has expired.',
  'authenticationError.OAUTH_TOKEN_INVALID': 'OAuth token in the header is not valid.',
  'authenticationError.OAUTH_TOKEN_REVOKED': 'OAuth token in the header has been revoked.',
  'authenticationError.OAUTH_TOKEN_HEADER_INVALID': 'The Authorization header is missing or is not a Bearer token.',
  'authorizationError.USER_PERMISSION_DENIED': 'User doesn\'t have permission to access customer. Note: If you\'re accessing a client customer, the manager\'s customer id must be set in the \'login-customer-id\' header.',
  'headerError.INVALID_LOGIN_CUSTOMER_ID': 'The login customer id could not be validated.',
  'quotaError.RESOURCE_TEMPORARILY_EXHAUSTED': 'Too many requests. Retry in 30 seconds.',
  'quotaError.RESOURCE_EXHAUSTED': 'The daily operations limit has been exceeded.',
};

function adsMessage(family, code) {
  return ADS_MESSAGES[`${family}.${code}`] ?? `${family} ${code}`;
}

function failureDetail(version, errors, requestId) {
  return {
    '@type': `type.googleapis.com/google.ads.googleads.v${version}.errors.GoogleAdsFailure`,
    errors,
    requestId,
  };
}

// A whole-request error in Google's REST envelope; error.code is the HTTP status.
function adsEnvelope(status, version, requestId, errors, message) {
  const error = {
    code: status,
    message: message ?? ENVELOPE_MESSAGES[status] ?? 'Error',
    status: GRPC_STATUS[status] ?? 'UNKNOWN',
  };
  if (errors?.length) error.details = [failureDetail(version, errors, requestId)];
  return { error };
}

// The proto field names (snake_case), which Google uses inside error locations.
const snake = (name) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (name) => name.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());

// Just enough of the request protos for protobuf-JSON parsing: the REST front end rejects
// unknown field names and mistyped values for the whole request before any row is looked at.
const STR = { type: 'string' };
const DBL = { type: 'double' };
const BOOL = { type: 'bool' };
const INT = { type: 'int' };
const ANY = { type: 'any' };
const enumOf = (name, ...values) => ({ type: 'enum', name, values: ['UNSPECIFIED', 'UNKNOWN', ...values] });
const msg = (fields) => ({ type: 'message', fields });
const rep = (item) => ({ type: 'repeated', item });

const CONSENT_STATUS = enumOf('enums.ConsentStatusEnum.ConsentStatus', 'GRANTED', 'DENIED');
const CONSENT = msg({ adUserData: CONSENT_STATUS, adPersonalization: CONSENT_STATUS });
const CUSTOM_VARIABLE = msg({ conversionCustomVariable: STR, value: STR });
const IDENTIFIER_ONEOF = ['hashedEmail', 'hashedPhoneNumber', 'mobileId', 'thirdPartyUserId', 'addressInfo'];
const USER_IDENTIFIER = msg({
  userIdentifierSource: enumOf('enums.UserIdentifierSourceEnum.UserIdentifierSource', 'FIRST_PARTY', 'THIRD_PARTY'),
  hashedEmail: STR, hashedPhoneNumber: STR, mobileId: STR, thirdPartyUserId: STR, addressInfo: ANY,
});
const CLICK_CONVERSION = msg({
  gclid: STR, gbraid: STR, wbraid: STR, conversionAction: STR, conversionDateTime: STR,
  conversionValue: DBL, currencyCode: STR, orderId: STR, externalAttributionData: ANY,
  customVariables: rep(CUSTOM_VARIABLE), cartData: ANY, userIdentifiers: rep(USER_IDENTIFIER),
  conversionEnvironment: enumOf('enums.ConversionEnvironmentEnum.ConversionEnvironment', 'APP', 'WEB'),
  consent: CONSENT, customerType: ANY, userIpAddress: STR, sessionAttributesEncoded: STR,
  sessionAttributesKeyValuePairs: ANY,
});
const CALL_CONVERSION = msg({
  callerId: STR, callStartDateTime: STR, conversionAction: STR, conversionDateTime: STR,
  conversionValue: DBL, currencyCode: STR, customVariables: rep(CUSTOM_VARIABLE), consent: CONSENT,
});

function clickRequestSchema(version) {
  const fields = { customerId: STR, conversions: rep(CLICK_CONVERSION), partialFailure: BOOL, validateOnly: BOOL, jobId: INT };
  // debugEnabled was removed in v21 (contract, versions table), so later versions reject it.
  if (version <= 20) fields.debugEnabled = BOOL;
  return msg(fields);
}
const CALL_REQUEST = msg({ customerId: STR, conversions: rep(CALL_CONVERSION), partialFailure: BOOL, validateOnly: BOOL });

class ParseError extends Error {
  constructor(message, field) {
    super(message);
    this.field = field;
  }
}

function parseProto(value, desc, path, version) {
  const where = path || 'root';
  const bad = () => {
    const typeName = desc.type === 'enum' ? `type.googleapis.com/google.ads.googleads.v${version}.${desc.name}` : `TYPE_${desc.type.toUpperCase()}`;
    return new ParseError(`Invalid value at '${where}' (${typeName}), ${JSON.stringify(value)}`, where);
  };
  switch (desc.type) {
    case 'any':
      return value;
    case 'string':
      if (typeof value !== 'string') throw bad();
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw bad();
      return value;
    case 'double':
      if (typeof value === 'number') return value;
      if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
      throw bad();
    case 'int':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
      throw bad();
    case 'enum':
      if (typeof value !== 'string' || !desc.values.includes(value)) throw bad();
      return value;
    case 'repeated': {
      if (!Array.isArray(value)) throw bad();
      return value.map((item, i) => parseProto(item, desc.item, `${path}[${i}]`, version));
    }
    case 'message': {
      if (!isObject(value)) throw bad();
      const out = {};
      for (const [key, item] of Object.entries(value)) {
        const name = camel(key);
        const field = desc.fields[name];
        if (!field) {
          throw new ParseError(`Invalid JSON payload received. Unknown name "${key}"${path ? ` at '${path}'` : ''}: Cannot find field.`, path ? `${path}.${key}` : key);
        }
        if (item === null) continue; // null means "default" in protobuf JSON
        out[name] = parseProto(item, field, path ? `${path}.${snake(name)}` : snake(name), version);
      }
      if (desc === USER_IDENTIFIER) {
        const set = IDENTIFIER_ONEOF.filter((k) => out[k] !== undefined);
        if (set.length > 1) {
          throw new ParseError(`Invalid JSON payload received. Oneof field 'identifier' at '${where}' is already set. Cannot set '${snake(set[1])}'`, where);
        }
      }
      return out;
    }
    default:
      throw new Error(`unknown descriptor ${desc.type}`);
  }
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})([+-])(\d{2}):(\d{2})$/;

// 'yyyy-mm-dd hh:mm:ss±hh:mm' → epoch ms, or a row error naming what is wrong.
function parseAdsDateTime(text) {
  const m = DATE_TIME.exec(text);
  if (!m) return { code: 'INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET' };
  const [y, mo, d, h, mi, s, sign, oh, om] = [m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9]];
  const n = (x) => Number(x);
  const local = Date.UTC(n(y), n(mo) - 1, n(d), n(h), n(mi), n(s));
  const back = new Date(local);
  const fieldsOk = back.getUTCFullYear() === n(y) && back.getUTCMonth() === n(mo) - 1 && back.getUTCDate() === n(d)
    && n(h) < 24 && n(mi) < 60 && n(s) < 60 && n(oh) <= 14 && n(om) < 60;
  if (!fieldsOk) return { code: 'INVALID_FIELD_VALUES_IN_DATE_TIME' };
  const offset = (n(oh) * 60 + n(om)) * 60000 * (sign === '+' ? 1 : -1);
  return { ms: local - offset };
}

// ---------------------------------------------------------------------------------------------
// GA4 Measurement Protocol validation (the debug endpoint's rules; collect records the same
// verdict so tests can assert that what they delivered would have been valid)

const GA4_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const GA4_RESERVED_EVENTS = new Set([
  'ad_activeview', 'ad_click', 'ad_exposure', 'ad_impression', 'ad_query', 'ad_reward', 'adunit_exposure',
  'app_background', 'app_clear_data', 'app_exception', 'app_remove', 'app_store_refund',
  'app_store_subscription_cancel', 'app_store_subscription_convert', 'app_store_subscription_renew',
  'app_update', 'app_upgrade', 'dynamic_link_app_open', 'dynamic_link_app_update', 'dynamic_link_first_open',
  'error', 'first_open', 'first_visit', 'in_app_purchase', 'notification_dismiss', 'notification_foreground',
  'notification_open', 'notification_receive', 'os_update', 'session_start', 'session_start_with_rollout',
  'user_engagement',
]);
const GA4_RESERVED_PREFIXES = ['firebase_', 'ga_', 'google_', 'gtag.'];
const GA4_RESERVED_USER_PROPERTIES = new Set(['first_open_time', 'first_visit_time', 'last_deep_link_referrer', 'user_id', 'first_open_after_install']);
const GA4_CONSENT_KEYS = ['ad_user_data', 'ad_personalization'];
const HOURS_72_US = 72 * 3600 * 1e6;

function nameProblem(name, max) {
  if (typeof name !== 'string' || name === '') return 'Names must not be empty.';
  if (!/^[A-Za-z]/.test(name)) return 'Names must start with an alphabetic character.';
  if (!GA4_NAME.test(name)) return 'Names must only contain alphanumeric characters and underscores.';
  if (name.length > max) return `Names must be ${max} characters or fewer.`;
  return null;
}

function ga4Validate(payload, query, nowMs) {
  const out = [];
  const add = (fieldPath, description, validationCode) => out.push({ fieldPath, description, validationCode });
  if (!isObject(payload)) {
    add('', 'Unable to parse Measurement Protocol JSON payload.', 'VALUE_INVALID');
    return out;
  }
  // App streams identify the instance instead of the browser (contract, endpoints table).
  const idField = query.firebase_app_id !== undefined ? 'app_instance_id' : 'client_id';
  const id = payload[idField];
  if (id === undefined || id === null || id === '') add(idField, `Measurement requires ${idField === 'client_id' ? 'a' : 'an'} ${idField}.`, 'VALUE_REQUIRED');
  else if (typeof id !== 'string') add(idField, `${idField} must be a string.`, 'VALUE_INVALID');
  if (payload.user_id !== undefined) {
    if (typeof payload.user_id !== 'string') add('user_id', 'user_id must be a string.', 'VALUE_INVALID');
    else if (payload.user_id.length > 256) add('user_id', 'user_id must be 256 characters or fewer.', 'VALUE_OUT_OF_BOUNDS');
  }
  if (payload.timestamp_micros !== undefined) {
    const raw = payload.timestamp_micros;
    const ts = typeof raw === 'number' ? raw : (typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN);
    const nowUs = nowMs * 1000;
    if (!Number.isInteger(ts)) add('timestamp_micros', `Measurement timestamp_micros [${raw}] must be an integer number of microseconds.`, 'VALUE_INVALID');
    else if (ts < nowUs - HOURS_72_US) add('timestamp_micros', `Measurement timestamp_micros [${raw}] is more than 72 hours in the past.`, 'VALUE_INVALID');
    else if (ts > nowUs) add('timestamp_micros', `Measurement timestamp_micros [${raw}] is in the future.`, 'VALUE_INVALID');
  }
  if (payload.validation_behavior !== undefined && !['RELAXED', 'ENFORCE_RECOMMENDATIONS'].includes(payload.validation_behavior)) {
    add('validation_behavior', `validation_behavior [${payload.validation_behavior}] must be RELAXED or ENFORCE_RECOMMENDATIONS.`, 'VALUE_INVALID');
  }
  if (payload.consent !== undefined) {
    if (!isObject(payload.consent)) add('consent', 'consent must be an object.', 'VALUE_INVALID');
    else {
      for (const key of GA4_CONSENT_KEYS) {
        const v = payload.consent[key];
        if (v !== undefined && v !== 'GRANTED' && v !== 'DENIED') add(`consent.${key}`, `consent.${key} [${v}] must be GRANTED or DENIED.`, 'VALUE_INVALID');
      }
    }
  }
  if (payload.user_properties !== undefined) {
    const props = payload.user_properties;
    if (!isObject(props)) add('user_properties', 'user_properties must be an object.', 'VALUE_INVALID');
    else {
      const names = Object.keys(props);
      if (names.length > 25) add('user_properties', 'A maximum of 25 user properties can be specified per request.', 'EXCEEDED_MAX_ENTITIES');
      for (const name of names) {
        const problem = nameProblem(name, 24);
        if (problem) add('user_properties', `User property [${name}] has an invalid name. ${problem}`, 'NAME_INVALID');
        else if (GA4_RESERVED_USER_PROPERTIES.has(name) || GA4_RESERVED_PREFIXES.some((p) => name.startsWith(p))) {
          add('user_properties', `User property [${name}] has a reserved name.`, 'NAME_RESERVED');
        }
        const value = isObject(props[name]) ? props[name].value : undefined;
        if (!isObject(props[name])) add('user_properties', `User property [${name}] must be an object with a value.`, 'VALUE_INVALID');
        else if (typeof value === 'string' && value.length > 36) add('user_properties', `User property [${name}] has a value longer than 36 characters.`, 'VALUE_OUT_OF_BOUNDS');
      }
    }
  }
  const events = payload.events;
  if (events === undefined || (Array.isArray(events) && events.length === 0)) {
    add('events', 'Measurement requires at least one event.', 'VALUE_REQUIRED');
    return out;
  }
  if (!Array.isArray(events)) {
    add('events', 'events must be an array.', 'VALUE_INVALID');
    return out;
  }
  if (events.length > 25) add('events', 'A maximum of 25 events can be specified per request.', 'EXCEEDED_MAX_ENTITIES');
  events.forEach((event, i) => {
    if (!isObject(event)) {
      add('events', `Event at index: [${i}] must be an object.`, 'VALUE_INVALID');
      return;
    }
    const { name, params } = event;
    if (name === undefined || name === '') add('events', `Event at index: [${i}] requires a name.`, 'VALUE_REQUIRED');
    else {
      const problem = nameProblem(name, 40);
      // The message pattern is the validation server's (contract, GA4 responses).
      if (problem) add('events', `Event at index: [${i}] has invalid name [${name}]. ${problem}`, 'NAME_INVALID');
      else if (GA4_RESERVED_EVENTS.has(name) || GA4_RESERVED_PREFIXES.some((p) => name.startsWith(p))) {
        add('events', `Event at index: [${i}] has name [${name}] which is reserved.`, 'NAME_RESERVED');
      }
    }
    if (params === undefined) return;
    if (!isObject(params)) {
      add('events.params', `Event at index: [${i}] has params that are not an object.`, 'VALUE_INVALID');
      return;
    }
    const keys = Object.keys(params);
    if (keys.length > 25) add('events.params', `Event at index: [${i}] has more than 25 params.`, 'EXCEEDED_MAX_ENTITIES');
    for (const key of keys) {
      const problem = nameProblem(key, 40);
      if (problem) add('events.params', `Event at index: [${i}] has invalid param [${key}]. ${problem}`, 'NAME_INVALID');
      else if (key === 'firebase_conversion' || GA4_RESERVED_PREFIXES.some((p) => key.startsWith(p))) {
        add('events.params', `Event at index: [${i}] has param [${key}] which is reserved.`, 'NAME_RESERVED');
      }
      const value = params[key];
      if (key === 'items') {
        if (!Array.isArray(value) || !value.every(isObject)) add('events.params.items', `Event at index: [${i}] has items that are not an array of objects.`, 'VALUE_INVALID');
      } else if (typeof value === 'string') {
        if (value.length > 100) add('events.params', `Event at index: [${i}] has param [${key}] with a value longer than 100 characters.`, 'VALUE_OUT_OF_BOUNDS');
      } else if (typeof value !== 'number' && typeof value !== 'boolean') {
        add('events.params', `Event at index: [${i}] has param [${key}] whose value is not a string, number or boolean.`, 'VALUE_INVALID');
      }
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Meta Conversions API

const META_ACTION_SOURCES = new Set(['website', 'app', 'physical_store', 'email', 'phone_call', 'chat', 'system_generated', 'other']);
// user_data keys Meta wants hashed (contract, hashing rules and customer-information page).
const META_HASHED_KEYS = ['em', 'ph', 'fn', 'ln', 'ge', 'db', 'ct', 'st', 'zp', 'country'];
const META_IDENTIFYING_KEYS = [...META_HASHED_KEYS, 'external_id', 'client_ip_address', 'client_user_agent', 'fbc', 'fbp', 'fb_login_id', 'lead_id', 'subscription_id', 'madid', 'anon_id'];
const DAYS_7_S = 7 * 86400;

const META_THROTTLE_MESSAGES = {
  1: 'An unknown error occurred',
  2: 'An unexpected error has occurred. Please retry your request later.',
  4: '(#4) Application request limit reached',
  17: '(#17) User request limit reached',
  32: '(#32) Page request limit reached',
  613: '(#613) Calls to this api have exceeded the rate limit.',
};

function graphError(fields) {
  return { error: { message: 'Invalid parameter', type: 'OAuthException', code: 100, ...fields, fbtrace_id: randomId(9) } };
}

function metaParamError(userMsg, extra = {}) {
  return graphError({ is_transient: false, error_user_title: 'Invalid parameter', error_user_msg: userMsg, ...extra });
}

function metaValidate(data, nowMs) {
  if (!Array.isArray(data) || data.length === 0) return metaParamError('The parameter data is required and must be a non-empty array of events.', { message: '(#100) The parameter data is required' });
  if (data.length > 1000) return metaParamError('data holds more than 1000 events; send at most 1000 per request.', { message: '(#100) Param data must be an array of at most 1000 events' });
  const nowS = Math.floor(nowMs / 1000);
  // Staleness first: any event older than 7 days rejects the whole request (contract, limits).
  for (const [i, event] of data.entries()) {
    const t = isObject(event) ? event.event_time : undefined;
    if (Number.isInteger(t) && t < nowS - DAYS_7_S) {
      return graphError({
        is_transient: false,
        error_subcode: 2804003,
        error_user_title: 'Event Timestamp Too Old',
        error_user_msg: `The event_time of data[${i}] (${t}) is too far in the past: events must be sent within 7 days of when they occurred. No events in this request were processed.`,
      });
    }
  }
  for (const [i, event] of data.entries()) {
    const at = `data[${i}]`;
    if (!isObject(event)) return metaParamError(`${at} must be an object.`);
    if (typeof event.event_name !== 'string' || event.event_name === '') return metaParamError(`${at}.event_name is required and must be a string.`);
    if (!Number.isInteger(event.event_time)) return metaParamError(`${at}.event_time is required and must be an integer Unix time in seconds.`);
    if (event.event_time > nowS + 60) return metaParamError(`${at}.event_time (${event.event_time}) is in the future.`);
    if (event.action_source === undefined) return metaParamError(`${at}.action_source is required.`);
    if (!META_ACTION_SOURCES.has(event.action_source)) return metaParamError(`${at}.action_source (${event.action_source}) must be one of ${[...META_ACTION_SOURCES].join(', ')}.`);
    if (event.action_source === 'website') {
      if (typeof event.event_source_url !== 'string') return metaParamError(`${at}.event_source_url is required when action_source is website.`);
      if (!isObject(event.user_data) || typeof event.user_data.client_user_agent !== 'string') return metaParamError(`${at}.user_data.client_user_agent is required when action_source is website.`);
    }
    if (event.event_id !== undefined && typeof event.event_id !== 'string') return metaParamError(`${at}.event_id must be a string.`);
    if (event.custom_data !== undefined && !isObject(event.custom_data)) return metaParamError(`${at}.custom_data must be an object.`);
    const ud = event.user_data;
    if (!isObject(ud)) return metaParamError(`${at}.user_data is required and must be an object.`);
    for (const key of META_HASHED_KEYS) {
      if (ud[key] === undefined) continue;
      // "string or list<string>", each a lower-case SHA-256 hex digest; unhashed data is refused.
      const values = Array.isArray(ud[key]) ? ud[key] : [ud[key]];
      if (!values.every((v) => typeof v === 'string' && HEX64.test(v))) {
        return metaParamError(`${at}.user_data.${key} must be SHA-256 hashed: each value 64 lower-case hex characters. Unhashed customer information is not accepted.`);
      }
    }
    const identifying = META_IDENTIFYING_KEYS.filter((k) => ud[k] !== undefined && ud[k] !== '' && !(Array.isArray(ud[k]) && ud[k].length === 0));
    if (identifying.length === 0) {
      return graphError({
        is_transient: false,
        error_subcode: 2804050,
        error_user_title: 'Customer information parameters',
        error_user_msg: `This event has insufficient customer information: ${at}.user_data holds no customer information parameters.`,
      });
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------

const ROUTES = [
  { name: 'token', pattern: /(^|\/)token$/ },
  { name: 'googleAds', pattern: /\/v(\d+)\/customers\/(\d+):(uploadClickConversions|uploadCallConversions)$/ },
  { name: 'ga4Debug', pattern: /\/debug\/mp\/collect$/ },
  { name: 'ga4', pattern: /\/mp\/collect$/ },
  { name: 'meta', pattern: /\/v(\d+)\.(\d+)\/(\d+)\/events$/ },
];

/**
 * Starts one loopback server holding every stand-in (routes chosen by the path's ending, so a
 * prefix such as /googleads is fine). Options, all optional:
 *   oauth: {clients: {id: secret}, refreshTokens: [..] or {token: clientId}, expiresIn, scope,
 *           clientCredentials}
 *   googleAds: {loginCustomerId, conversionActions: [actionId, ..]}
 *   meta: {accessToken, appSecret}
 *   now: () => ms (also settable later as platforms.now), port
 * Resolves {url, close, requests, clear, reset, now, tokens, tokenRequests, oauth, googleAds,
 * ga4, meta, failTokens, revokeAll, revokeRefreshToken, delayNext, dropNext}.
 */
export async function startPlatforms(options = {}) {
  const oauthOptions = options.oauth ?? {};
  const refreshTokens = new Map();
  const givenTokens = oauthOptions.refreshTokens ?? ['test-refresh'];
  // An array: tokens any known client may use. An object: token → the client id it belongs to.
  if (Array.isArray(givenTokens)) for (const t of givenTokens) refreshTokens.set(t, null);
  else for (const [t, client] of Object.entries(givenTokens)) refreshTokens.set(t, client);

  const p = {
    url: '',
    now: options.now ?? (() => Date.now()),
    requests: [],
    tokens: [],
    tokenRequests: 0,
    oauth: {
      clients: { ...(oauthOptions.clients ?? { 'test-client': 'test-secret' }) },
      refreshTokens,
      expiresIn: oauthOptions.expiresIn ?? 3599,
      scope: oauthOptions.scope ?? DEFAULT_SCOPE,
      clientCredentials: oauthOptions.clientCredentials === true,
    },
    googleAds: {
      loginCustomerId: options.googleAds?.loginCustomerId ?? null,
      // When set (action ids as strings), other actions answer NO_CONVERSION_ACTION_FOUND.
      conversionActions: options.googleAds?.conversionActions?.map(String) ?? null,
      accepted: [],
      uploads: [],
    },
    ga4: { collected: [] },
    meta: {
      accessToken: options.meta?.accessToken ?? 'test-meta-token',
      appSecret: options.meta?.appSecret ?? null,
      received: [],
      get events() {
        return p.meta.received.flatMap((r) => r.events);
      },
    },
  };

  const tokenIndex = new Map();
  const tokenFailures = [];
  const adsFailures = [];
  const metaFailures = [];
  const disruptions = [];
  const rowErrors = [];
  const usedOrderIds = new Set(); // `${actionId}|${orderId}`
  const storedClicks = new Set(); // `${actionId}|${clickId}|${conversionDateTime}`
  const storedCalls = new Set(); // `${actionId}|${callerId}|${callStart}|${conversionDateTime}`
  const timers = new Set();

  // --- OAuth -----------------------------------------------------------------------------------

  function issueToken(clientId, grantType, refreshToken, scope) {
    const issued = p.now();
    const expiresIn = p.oauth.expiresIn;
    const record = {
      access_token: `ya29.${randomId(24)}`,
      client_id: clientId,
      grant_type: grantType,
      refresh_token: refreshToken,
      scope,
      issued_at_ms: issued,
      expires_at_ms: issued + expiresIn * 1000,
      revoked: false,
    };
    p.tokens.push(record);
    tokenIndex.set(record.access_token, record);
    return { access_token: record.access_token, expires_in: expiresIn, token_type: 'Bearer', scope };
  }

  // RFC 6749 §5.1/§5.2: JSON, never cached; 401 + WWW-Authenticate when Basic was tried.
  function oauthReply(res, status, body, basicUsed = false) {
    const headers = { 'cache-control': 'no-store', pragma: 'no-cache' };
    if (status === 401 && basicUsed) headers['www-authenticate'] = 'Basic realm="token"';
    send(res, status, body, headers);
  }

  // RFC 6749 §2.3.1: id and secret are each form-urlencoded, joined by ':', then base64.
  function parseBasic(header) {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!m) return null;
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return null;
    const unform = (s) => {
      try {
        return decodeURIComponent(s.replace(/\+/g, ' '));
      } catch {
        return null;
      }
    };
    const id = unform(decoded.slice(0, colon));
    const secret = unform(decoded.slice(colon + 1));
    return id === null || secret === null ? null : { id, secret };
  }

  function handleToken(rec, res) {
    p.tokenRequests += 1;
    const failure = takeScript(tokenFailures);
    if (failure) {
      return oauthReply(res, failure.status, failure.body ?? {
        error: failure.status >= 500 ? 'internal_failure' : 'invalid_request',
        error_description: `Scripted failure (status ${failure.status}).`,
      });
    }
    const invalid = (description) => oauthReply(res, 400, { error: 'invalid_request', error_description: description });
    if (!/^application\/x-www-form-urlencoded\b/i.test(rec.headers['content-type'] ?? '')) {
      return invalid('The request body must be application/x-www-form-urlencoded.');
    }
    const form = new URLSearchParams(rec.body);
    const seen = new Set();
    for (const key of form.keys()) {
      // §3.2: parameters must not be included more than once.
      if (seen.has(key)) return invalid(`Duplicate parameter: ${key}`);
      seen.add(key);
    }
    const grant = form.get('grant_type');
    if (grant === null) return invalid('Missing required parameter: grant_type');
    const supported = grant === 'refresh_token' || (grant === 'client_credentials' && p.oauth.clientCredentials);
    if (!supported) {
      // Google offers no client_credentials grant; it answers like this for any grant it lacks.
      return oauthReply(res, 400, { error: 'unsupported_grant_type', error_description: `Invalid grant_type: ${grant}` });
    }

    // Client authentication: HTTP Basic or body fields, never both (§2.3).
    const authHeader = rec.headers.authorization;
    const basicUsed = authHeader !== undefined;
    let clientId = form.get('client_id');
    let clientSecret = form.get('client_secret');
    if (basicUsed) {
      const basic = parseBasic(authHeader);
      if (!basic) return oauthReply(res, 401, { error: 'invalid_client', error_description: 'Unauthorized' }, true);
      if (clientSecret !== null) return invalid('The client must use only one authentication method.');
      if (clientId !== null && clientId !== basic.id) return oauthReply(res, 401, { error: 'invalid_client', error_description: 'Unauthorized' }, true);
      clientId = basic.id;
      clientSecret = basic.secret;
    }

    let refreshToken = null;
    if (grant === 'refresh_token') {
      refreshToken = form.get('refresh_token');
      if (refreshToken === null || refreshToken === '') return invalid('Missing required parameter: refresh_token');
    }
    if (clientId === null || clientId === '') return invalid('Missing required parameter: client_id');
    if (clientSecret === null) return invalid('Missing required parameter: client_secret');
    if (!Object.hasOwn(p.oauth.clients, clientId)) {
      return oauthReply(res, 401, { error: 'invalid_client', error_description: 'The OAuth client was not found.' }, basicUsed);
    }
    if (p.oauth.clients[clientId] !== clientSecret) {
      return oauthReply(res, 401, { error: 'invalid_client', error_description: 'Unauthorized' }, basicUsed);
    }

    if (grant === 'refresh_token') {
      if (!p.oauth.refreshTokens.has(refreshToken)) {
        return oauthReply(res, 400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
      }
      const owner = p.oauth.refreshTokens.get(refreshToken);
      if (owner !== null && owner !== clientId) {
        return oauthReply(res, 401, { error: 'unauthorized_client', error_description: 'Unauthorized' });
      }
      return oauthReply(res, 200, issueToken(clientId, grant, refreshToken, p.oauth.scope));
    }
    // client_credentials (only when enabled): no refresh token is issued.
    return oauthReply(res, 200, issueToken(clientId, grant, null, form.get('scope') || p.oauth.scope));
  }

  // → { token } or { reason } with the authenticationError code to answer.
  function checkBearer(header) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) return { reason: 'OAUTH_TOKEN_HEADER_INVALID' };
    const token = tokenIndex.get(m[1]);
    if (!token) return { reason: 'OAUTH_TOKEN_INVALID' };
    if (token.revoked) return { reason: 'OAUTH_TOKEN_REVOKED' };
    if (p.now() >= token.expires_at_ms) return { reason: 'OAUTH_TOKEN_EXPIRED' };
    return { token };
  }

  // --- Google Ads ------------------------------------------------------------------------------

  function handleAds(rec, res, match) {
    const version = Number(match[1]);
    const customerId = match[2];
    const kind = match[3] === 'uploadClickConversions' ? 'click' : 'call';
    const requestId = randomId(16);
    const headers = { 'request-id': requestId };
    const reply = (status, body) => send(res, status, body, headers);
    const fail = (status, family, code, extra = {}) => reply(status, adsEnvelope(status, version, requestId, [{
      errorCode: { [family]: code },
      message: extra.message ?? adsMessage(family, code),
      ...(extra.location ? { location: extra.location } : {}),
      ...(extra.details ? { details: extra.details } : {}),
    }], extra.envelopeMessage));

    const scripted = takeScript(adsFailures);
    if (scripted) {
      if (scripted.body !== undefined) return reply(scripted.status, scripted.body);
      if (!scripted.family) return reply(scripted.status, adsEnvelope(scripted.status, version, requestId, [], scripted.message));
      return fail(scripted.status, scripted.family, scripted.code, {
        message: scripted.message,
        details: scripted.retryDelay ? { quotaErrorDetails: { retryDelay: scripted.retryDelay } } : undefined,
      });
    }

    const auth = checkBearer(rec.headers.authorization);
    if (!auth.token) {
      const envelopeMessage = auth.reason === 'OAUTH_TOKEN_HEADER_INVALID'
        ? 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.'
        : undefined;
      return fail(401, 'authenticationError', auth.reason, { envelopeMessage });
    }
    const login = rec.headers['login-customer-id'];
    if (login !== undefined && !/^\d+$/.test(login)) return fail(400, 'headerError', 'INVALID_LOGIN_CUSTOMER_ID');
    if (p.googleAds.loginCustomerId !== null && login !== String(p.googleAds.loginCustomerId)) {
      return fail(403, 'authorizationError', 'USER_PERMISSION_DENIED');
    }
    if (!/^application\/json\b/i.test(rec.headers['content-type'] ?? '')) {
      return reply(400, adsEnvelope(400, version, requestId, [], 'Invalid JSON payload received. The request must have Content-Type: application/json.'));
    }
    if (rec.json === null) {
      return reply(400, adsEnvelope(400, version, requestId, [], 'Invalid JSON payload received. Unexpected token.'));
    }
    let body;
    try {
      body = parseProto(rec.json, kind === 'click' ? clickRequestSchema(version) : CALL_REQUEST, '', version);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      return reply(400, {
        error: {
          code: 400,
          message: e.message,
          status: 'INVALID_ARGUMENT',
          details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: e.field, description: e.message }] }],
        },
      });
    }
    if (body.partialFailure !== true) return fail(400, 'partialFailureError', 'PARTIAL_FAILURE_MODE_REQUIRED');
    const rows = body.conversions ?? [];
    if (rows.length === 0) {
      return fail(400, 'requestError', 'REQUIRED_FIELD_MISSING', { location: { fieldPathElements: [{ fieldName: 'conversions' }] } });
    }
    if (rows.length > 2000) return fail(400, 'conversionUploadError', 'TOO_MANY_CONVERSIONS_IN_REQUEST');
    let jobId = null;
    if (kind === 'click') {
      if (body.jobId !== undefined && (body.jobId < 0 || body.jobId >= 2 ** 31)) {
        return fail(400, 'conversionUploadError', 'INVALID_JOB_ID', { location: { fieldPathElements: [{ fieldName: 'job_id' }] } });
      }
      // Absent: the server picks one in [2^31, 2^63-1]. int64 travels as a JSON string.
      jobId = body.jobId !== undefined ? String(body.jobId) : String(2n ** 31n + (randomBytes(8).readBigUInt64BE() % (2n ** 63n - 2n ** 31n)));
    }
    const validateOnly = body.validateOnly === true;

    const ctx = { kind, version, customerId, seenOrderIds: new Set(), seenEvents: new Set() };
    const results = [];
    const errors = [];
    const okRows = [];
    rows.forEach((row, i) => {
      const err = (kind === 'click' ? checkClickRow : checkCallRow)(row, i, ctx);
      if (err) {
        results.push({});
        const fieldPathElements = [{ fieldName: 'conversions', index: i }, ...err.path];
        errors.push({
          errorCode: { [err.family]: err.code },
          message: err.message ?? adsMessage(err.family, err.code),
          ...(err.trigger !== undefined ? { trigger: { stringValue: err.trigger } } : {}),
          location: { fieldPathElements },
        });
        return;
      }
      results.push(resultOf(kind, row));
      okRows.push(row);
    });

    if (!validateOnly) {
      for (const row of okRows) {
        const actionId = actionIdOf(row.conversionAction);
        if (kind === 'click') {
          if (row.orderId) usedOrderIds.add(`${actionId}|${row.orderId}`);
          const click = row.gclid ?? row.gbraid ?? row.wbraid;
          if (click) storedClicks.add(`${actionId}|${click}|${row.conversionDateTime}`);
        } else {
          storedCalls.add(`${actionId}|${row.callerId}|${row.callStartDateTime}|${row.conversionDateTime}`);
        }
        p.googleAds.accepted.push({ ...row, kind, customerId, jobId, at_ms: rec.at_ms });
      }
    }
    const failed = errors.map((e) => e.location.fieldPathElements[0].index);
    p.googleAds.uploads.push({
      kind, version, customerId,
      developerToken: rec.headers['developer-token'] ?? null,
      loginCustomerId: login ?? null,
      validateOnly, jobId, rows: rows.length, failed, at_ms: rec.at_ms,
    });

    const answer = {};
    // validateOnly: only errors come back, no results (contract, request body table).
    if (!validateOnly) answer.results = results;
    if (errors.length) {
      const first = errors[0];
      const at = `, at conversions[${first.location.fieldPathElements[0].index}]`;
      answer.partialFailureError = {
        code: 3,
        message: errors.length === 1 ? `${first.message}${at}` : `Multiple errors in ‘details’. First error: ${first.message}${at}`,
        details: [failureDetail(version, errors, requestId)],
      };
    }
    if (jobId !== null && !validateOnly) answer.jobId = jobId;
    return reply(200, answer);
  }

  function actionIdOf(resourceName) {
    return /\/conversionActions\/(\d+)$/.exec(resourceName)?.[1] ?? null;
  }

  function resultOf(kind, row) {
    if (kind === 'call') {
      return { callerId: row.callerId, callStartDateTime: row.callStartDateTime, conversionAction: row.conversionAction, conversionDateTime: row.conversionDateTime };
    }
    const r = {};
    for (const k of ['gclid', 'gbraid', 'wbraid']) if (row[k]) r[k] = row[k];
    r.conversionAction = row.conversionAction;
    r.conversionDateTime = row.conversionDateTime;
    if (row.userIdentifiers?.length) r.userIdentifiers = row.userIdentifiers;
    return r;
  }

  // Stand-in: one error per row (the contract allows it), families from the contract's list.
  const rowErr = (family, code, path, extra = {}) => ({ family, code, path: path.map((f) => (typeof f === 'string' ? { fieldName: f } : f)), ...extra });

  function checkCommon(row, ctx) {
    if (!row.conversionAction) return rowErr('requestError', 'REQUIRED_FIELD_MISSING', ['conversion_action']);
    if (!/^customers\/\d+\/conversionActions\/\d+$/.test(row.conversionAction)) {
      return rowErr('requestError', 'RESOURCE_NAME_MALFORMED', ['conversion_action'], { trigger: row.conversionAction });
    }
    const conversionActions = p.googleAds.conversionActions;
    if (conversionActions && !conversionActions.includes(actionIdOf(row.conversionAction))) {
      return rowErr('conversionUploadError', 'NO_CONVERSION_ACTION_FOUND', ['conversion_action'], { trigger: row.conversionAction });
    }
    const dt = checkDateTime(row.conversionDateTime, 'conversion_date_time');
    if (dt.error) return dt.error;
    for (const [j, cv] of (row.customVariables ?? []).entries()) {
      if (!/^customers\/\d+\/conversionCustomVariables\/\d+$/.test(cv.conversionCustomVariable ?? '')) {
        return rowErr('requestError', 'RESOURCE_NAME_MALFORMED', [{ fieldName: 'custom_variables', index: j }, 'conversion_custom_variable']);
      }
    }
    if (row.consent) {
      // Only ad_user_data belongs here; ad_personalization is for other services (contract).
      if (row.consent.adPersonalization !== undefined) return rowErr('fieldError', 'VALUE_MUST_BE_UNSET', ['consent', 'ad_personalization']);
      if (row.consent.adUserData !== undefined && !['GRANTED', 'DENIED'].includes(row.consent.adUserData)) {
        return rowErr('fieldError', 'INVALID_VALUE', ['consent', 'ad_user_data']);
      }
    }
    return null;
  }

  function checkDateTime(text, field) {
    if (!text) return { error: rowErr('requestError', 'REQUIRED_FIELD_MISSING', [field]) };
    const parsed = parseAdsDateTime(text);
    if (parsed.code) return { error: rowErr('dateError', parsed.code, [field], { trigger: text }) };
    if (parsed.ms > p.now()) return { error: rowErr('dateError', 'LATER_THAN_MAXIMUM_DATE', [field], { trigger: text }) };
    return { ms: parsed.ms };
  }

  function scriptedVerdict(row, i, ctx) {
    for (const rule of rowErrors) {
      if (rule.times <= 0) continue;
      const m = rule.matcher;
      const hit = typeof m === 'function'
        ? m(row, i, { kind: ctx.kind, customerId: ctx.customerId, version: ctx.version })
        : [row.gclid, row.gbraid, row.wbraid, row.callerId, row.orderId].some((v) => v !== undefined && (m instanceof RegExp ? m.test(v) : v === m));
      if (!hit) continue;
      rule.times -= 1;
      const v = rule.verdict;
      let field = v.field;
      if (field === undefined) {
        if (/CONVERSION_ACTION/.test(v.code)) field = 'conversion_action';
        else if (/ORDER_ID/.test(v.code)) field = 'order_id';
        else if (ctx.kind === 'call') field = 'caller_id';
        else field = ['gclid', 'gbraid', 'wbraid'].find((k) => row[k]) ?? 'user_identifiers';
      }
      const trigger = v.trigger !== undefined ? v.trigger
        : field === 'gclid' || field === 'gbraid' || field === 'wbraid' || field === 'order_id' ? row[camel(field)] : undefined;
      return rowErr(v.family ?? 'conversionUploadError', v.code, field === null ? [] : [field], { message: v.message, trigger });
    }
    return null;
  }

  function checkClickRow(row, i, ctx) {
    const common = checkCommon(row, ctx);
    if (common) return common;
    // One click id at most; user identifiers may come with or instead of one (ECfL).
    if (row.gbraid && row.wbraid) return rowErr('conversionUploadError', 'GBRAID_WBRAID_BOTH_SET', ['wbraid']);
    if (row.gclid && (row.gbraid || row.wbraid)) return rowErr('fieldError', 'VALUE_MUST_BE_UNSET', [row.gbraid ? 'gbraid' : 'wbraid']);
    const ids = row.userIdentifiers ?? [];
    if (!row.gclid && !row.gbraid && !row.wbraid && ids.length === 0) {
      return rowErr('requestError', 'REQUIRED_FIELD_MISSING', ['gclid'], { message: 'One of gclid, gbraid, wbraid or user_identifiers must be set.' });
    }
    // Click ids are web-safe base64 text.
    for (const k of ['gclid', 'gbraid', 'wbraid']) {
      if (row[k] && !/^[A-Za-z0-9_-]+$/.test(row[k])) return rowErr('conversionUploadError', `UNPARSEABLE_${k.toUpperCase()}`, [k], { trigger: row[k] });
    }
    if (ids.length > 5) return rowErr('collectionSizeError', 'TOO_MANY', ['user_identifiers']);
    for (const [j, id] of ids.entries()) {
      const at = { fieldName: 'user_identifiers', index: j };
      if (id.mobileId !== undefined || id.thirdPartyUserId !== undefined || id.addressInfo !== undefined) {
        return rowErr('conversionUploadError', 'UNSUPPORTED_USER_IDENTIFIER', [at]);
      }
      const key = id.hashedPhoneNumber !== undefined ? 'hashedPhoneNumber' : id.hashedEmail !== undefined ? 'hashedEmail' : null;
      if (!key) return rowErr('requestError', 'REQUIRED_FIELD_MISSING', [at], { message: 'A user identifier must set hashed_email or hashed_phone_number.' });
      if (!HEX64.test(id[key])) return rowErr('conversionUploadError', 'INVALID_USER_IDENTIFIER', [at, snake(key)]);
    }
    const actionId = actionIdOf(row.conversionAction);
    if (row.orderId) {
      const key = `${actionId}|${row.orderId}`;
      if (ctx.seenOrderIds.has(key)) return rowErr('conversionUploadError', 'DUPLICATE_ORDER_ID', ['order_id'], { trigger: row.orderId });
      ctx.seenOrderIds.add(key);
    }
    const click = row.gclid ?? row.gbraid ?? row.wbraid;
    const clickKey = click ? `${actionId}|${click}|${row.conversionDateTime}` : null;
    if (clickKey) {
      if (ctx.seenEvents.has(clickKey)) return rowErr('conversionUploadError', 'DUPLICATE_CLICK_CONVERSION_IN_REQUEST', [row.gclid ? 'gclid' : row.gbraid ? 'gbraid' : 'wbraid'], { trigger: click });
      ctx.seenEvents.add(clickKey);
    }
    const scripted = scriptedVerdict(row, i, ctx);
    if (scripted) return scripted;
    if (row.orderId && usedOrderIds.has(`${actionId}|${row.orderId}`)) {
      return rowErr('conversionUploadError', 'ORDER_ID_ALREADY_IN_USE', ['order_id'], { trigger: row.orderId });
    }
    if (clickKey && storedClicks.has(clickKey)) {
      return rowErr('conversionUploadError', 'CLICK_CONVERSION_ALREADY_EXISTS', [row.gclid ? 'gclid' : row.gbraid ? 'gbraid' : 'wbraid'], { trigger: click });
    }
    return null;
  }

  function checkCallRow(row, i, ctx) {
    const common = checkCommon(row, ctx);
    if (common) return common;
    if (!row.callerId) return rowErr('requestError', 'REQUIRED_FIELD_MISSING', ['caller_id']);
    // The contract's rule for callerId: E.164 with the leading '+'.
    if (!/^\+[1-9]\d{6,14}$/.test(row.callerId)) return rowErr('conversionUploadError', 'UNPARSEABLE_CALLERS_PHONE_NUMBER', ['caller_id'], { trigger: row.callerId });
    const start = checkDateTime(row.callStartDateTime, 'call_start_date_time');
    if (start.error) return start.error;
    if (parseAdsDateTime(row.conversionDateTime).ms < start.ms) {
      return rowErr('conversionUploadError', 'CONVERSION_PRECEDES_CALL', ['conversion_date_time'], { trigger: row.conversionDateTime });
    }
    const key = `${actionIdOf(row.conversionAction)}|${row.callerId}|${row.callStartDateTime}|${row.conversionDateTime}`;
    if (ctx.seenEvents.has(key)) return rowErr('conversionUploadError', 'DUPLICATE_CALL_CONVERSION_IN_REQUEST', ['caller_id'], { trigger: row.callerId });
    ctx.seenEvents.add(key);
    const scripted = scriptedVerdict(row, i, ctx);
    if (scripted) return scripted;
    if (storedCalls.has(key)) return rowErr('conversionUploadError', 'CALL_CONVERSION_ALREADY_EXISTS', ['caller_id'], { trigger: row.callerId });
    return null;
  }

  p.googleAds.rowError = (matcher, verdict) => {
    rowErrors.push({ matcher, verdict, times: verdict.times ?? Infinity });
  };
  p.googleAds.clearRowErrors = () => {
    rowErrors.length = 0;
  };
  // Defaults for scripted whole-request failures, by HTTP status (contract, whole-request table).
  const ADS_DEFAULT_CODES = {
    400: 'requestError.REQUIRED_FIELD_MISSING',
    401: 'authenticationError.OAUTH_TOKEN_EXPIRED',
    403: 'authorizationError.USER_PERMISSION_DENIED',
    429: 'quotaError.RESOURCE_TEMPORARILY_EXHAUSTED',
    500: 'internalError.INTERNAL_ERROR',
    504: 'internalError.DEADLINE_EXCEEDED',
  };
  p.googleAds.failNext = (n, status, errorCode, extra = {}) => {
    let family = null;
    let code = null;
    const spec = errorCode ?? ADS_DEFAULT_CODES[status] ?? null;
    if (isObject(spec)) [[family, code]] = Object.entries(spec);
    else if (typeof spec === 'string' && /[.:]/.test(spec)) [family, code] = spec.split(/[.:]/);
    else if (typeof spec === 'string') {
      family = (ADS_DEFAULT_CODES[status] ?? 'internalError.').split('.')[0];
      code = spec;
    }
    const retryDelay = extra.retryDelay ?? (family === 'quotaError' && code === 'RESOURCE_TEMPORARILY_EXHAUSTED' ? '30s' : undefined);
    adsFailures.push({ n, status, family, code, message: extra.message, retryDelay, body: extra.body });
  };

  // --- GA4 -------------------------------------------------------------------------------------

  function handleGa4(rec, res, debug) {
    const payload = tryJson(rec.body);
    const validationMessages = ga4Validate(payload, rec.query, p.now());
    if (debug) return send(res, 200, { validationMessages });
    p.ga4.collected.push({
      measurementId: rec.query.measurement_id ?? null,
      apiSecret: rec.query.api_secret ?? null,
      firebaseAppId: rec.query.firebase_app_id ?? null,
      payload,
      events: Array.isArray(payload?.events) ? payload.events : [],
      validationMessages,
      at_ms: rec.at_ms,
    });
    // Collect never reports payload problems: 2xx with an empty body, valid or not.
    return send(res, 204, null);
  }

  // --- Meta ------------------------------------------------------------------------------------

  function handleMeta(rec, res, match) {
    const version = `v${match[1]}.${match[2]}`;
    const pixelId = match[3];
    const reply = (status, body) => send(res, status, body);
    const scripted = takeScript(metaFailures);
    if (scripted) {
      const code = scripted.code ?? 2;
      return reply(scripted.status ?? (code === 1 || code === 2 ? 503 : 400), {
        error: {
          message: scripted.message ?? META_THROTTLE_MESSAGES[code] ?? `Scripted error ${code}`,
          type: scripted.type ?? 'OAuthException',
          code,
          ...(scripted.error_subcode !== undefined ? { error_subcode: scripted.error_subcode } : {}),
          is_transient: scripted.is_transient ?? [1, 2, 4, 17, 32, 613].includes(code),
          fbtrace_id: randomId(9),
        },
      });
    }
    // JSON body, or a form body with data as a JSON string (contract, endpoint table).
    let body = null;
    const ctype = rec.headers['content-type'] ?? '';
    if (/^application\/x-www-form-urlencoded\b/i.test(ctype)) {
      const form = Object.fromEntries(new URLSearchParams(rec.body));
      body = { ...form };
      if (typeof form.data === 'string') body.data = tryJson(form.data) ?? form.data;
    } else if (isObject(rec.json)) {
      body = rec.json;
    }
    const token = rec.query.access_token ?? body?.access_token;
    if (token !== p.meta.accessToken) {
      return reply(400, { error: { message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException', code: 190, fbtrace_id: randomId(9) } });
    }
    if (p.meta.appSecret !== null) {
      const proof = rec.query.appsecret_proof ?? body?.appsecret_proof;
      if (proof !== createHmac('sha256', p.meta.appSecret).update(token).digest('hex')) {
        return reply(400, graphError({ message: 'Invalid appsecret_proof provided in the API argument' }));
      }
    }
    const problem = metaValidate(body?.data, p.now());
    if (problem) return reply(400, problem);
    p.meta.received.push({
      version, pixelId, events: body.data, test_event_code: body.test_event_code ?? null, at_ms: rec.at_ms,
    });
    return reply(200, { events_received: body.data.length, messages: [], fbtrace_id: randomId(9) });
  }

  p.meta.failNext = (n, spec = {}) => {
    metaFailures.push({ n, ...spec });
  };

  // --- scripting shared by all routes ----------------------------------------------------------

  // Scripts are queued {n, ...}; each use spends one of its n.
  function takeScript(queue) {
    while (queue.length && queue[0].n <= 0) queue.shift();
    if (!queue.length) return null;
    queue[0].n -= 1;
    return queue[0];
  }

  p.failTokens = (n, status, body) => {
    tokenFailures.push({ n, status, body });
  };
  p.revokeAll = () => {
    for (const t of p.tokens) t.revoked = true;
  };
  p.revokeRefreshToken = (token) => p.oauth.refreshTokens.delete(token);
  p.delayNext = (n, ms, route) => {
    disruptions.push({ n, ms, route });
  };
  p.dropNext = (n, route) => {
    disruptions.push({ n, drop: true, route });
  };

  function takeDisruption(route) {
    const d = disruptions.find((x) => x.n > 0 && (x.route === undefined || x.route === route));
    if (!d) return null;
    d.n -= 1;
    return d;
  }

  // Empties what was recorded; issued tokens, used order ids and scripts stay.
  p.clear = () => {
    p.requests.length = 0;
    p.tokenRequests = 0;
    p.googleAds.accepted.length = 0;
    p.googleAds.uploads.length = 0;
    p.ga4.collected.length = 0;
    p.meta.received.length = 0;
  };
  // Forgets everything: a fresh set of platforms on the same port.
  p.reset = () => {
    p.clear();
    p.tokens.length = 0;
    tokenIndex.clear();
    for (const q of [tokenFailures, adsFailures, metaFailures, disruptions, rowErrors]) q.length = 0;
    usedOrderIds.clear();
    storedClicks.clear();
    storedCalls.clear();
  };

  async function handle(req, res) {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url, 'http://127.0.0.1');
    let path = url.pathname;
    try {
      path = decodeURIComponent(path);
    } catch {
      // keep the raw path; it will match no route
    }
    const rec = {
      method: req.method,
      path,
      query: Object.fromEntries(url.searchParams),
      headers: { ...req.headers },
      body,
      json: tryJson(body),
      at_ms: p.now(),
      route: null,
    };
    p.requests.push(rec);
    let route = null;
    let match = null;
    for (const r of ROUTES) {
      match = r.pattern.exec(path);
      if (match) {
        route = r.name;
        break;
      }
    }
    rec.route = route;
    if (!route) return send(res, 404, { error: `no stand-in route for ${req.method} ${path}` });
    if (req.method !== 'POST') return send(res, 405, { error: `${path} answers POST only` }, { allow: 'POST' });

    const disruption = takeDisruption(route);
    if (disruption?.drop) {
      req.socket.destroy();
      return undefined;
    }
    if (disruption?.ms) {
      await new Promise((resolve) => {
        const t = setTimeout(() => {
          timers.delete(t);
          resolve();
        }, disruption.ms);
        timers.add(t);
      });
    }
    switch (route) {
      case 'token': return handleToken(rec, res);
      case 'googleAds': return handleAds(rec, res, match);
      case 'ga4': return handleGa4(rec, res, false);
      case 'ga4Debug': return handleGa4(rec, res, true);
      default: return handleMeta(rec, res, match);
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => send(res, 500, { error: `stand-in failure: ${e.stack ?? e}` }));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  p.url = `http://127.0.0.1:${server.address().port}`;
  p.close = () => new Promise((resolve) => {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    server.close(() => resolve());
    server.closeAllConnections();
  });
  return p;
}
