// Rendering each destination format's request from one accepted event: the body, and for the
// platforms (GA4, Google Ads, Meta) the URL, headers and deadline their contracts ask for
// (the destinations contract, sections 2 to 4). What the platforms answer is read in
// platforms.cpp.
#include "callhook/render.h"

#include <array>

#include "callhook/erasure.h"
#include "callhook/spec.h"
#include "compact_json.h"
#include "crypto.h"
#include "routing.h"
#include "sealed_delivery.h"
#include "template.h"
#include "text_util.h"
#include "utf8.h"
#include "value_formats.h"

namespace callhook {
namespace {

using nlohmann::json;

constexpr std::int64_t kHourSeconds = 3600;
// GA4 honours timestamp_micros up to 72 hours back; Meta refuses a request whose event_time is
// more than 7 days old.
constexpr std::int64_t kGa4BackdateSeconds = 72 * kHourSeconds;
constexpr std::int64_t kMetaWindowSeconds = 7 * 24 * kHourSeconds;
// GA4 keeps 100 characters of a param's value (collection limits).
constexpr std::size_t kGa4ParamChars = 100;

// The value at a dotted path of `context`, or null.
const json& at(const json& context, std::string_view path) {
  static const json kNull;
  const json* node = &context;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t dot = path.find('.', pos);
    if (dot == std::string_view::npos) dot = path.size();
    if (!node->is_object()) return kNull;
    const auto it = node->find(path.substr(pos, dot - pos));
    if (it == node->end()) return kNull;
    node = &*it;
    pos = dot + 1;
  }
  return *node;
}

// The member `key` of an object, or null (for anything that is not an object).
const json& member(const json& object, std::string_view key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  const auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

}  // namespace

struct DestinationTemplates {
  std::optional<CompiledTemplate> body;                          // json_template
  std::optional<CompiledTemplate> session_id;                    // ga4
  std::vector<std::pair<std::string, CompiledTemplate>> params;  // ga4, in key order
  std::optional<CompiledTemplate> custom_data;                   // meta_capi
};

namespace {

// The option `key`'s template rendered: compiled when the engine was built, or read now.
json render_option(const std::optional<CompiledTemplate>* compiled, const json& tpl,
                   const json& context) {
  return compiled != nullptr && compiled->has_value() ? (*compiled)->render(context)
                                                      : render_template(tpl, context);
}

// Headers can carry any bytes, so serialising must never trip over invalid UTF-8.
std::string dump(const json& value) {
  return detail::dump_compact_json(value);
}

std::string text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return std::string();
  return dump(value);
}

// Options were checked when the config was read (config.cpp's check_options), but a renderer
// must never abort on a value of an unexpected type, so each read checks it again.
std::string option_string(const Destination& d, std::string_view key, std::string fallback = {}) {
  const json& value = member(d.options, key);
  return value.is_string() ? value.get<std::string>() : fallback;
}

bool option_bool(const Destination& d, std::string_view key, bool fallback) {
  const json& value = member(d.options, key);
  return value.is_boolean() ? value.get<bool>() : fallback;
}

// An account or pixel id written as digits, as a number, or as Google shows it ("123-456-7890").
std::string option_id(const Destination& d, std::string_view key) {
  const json& value = member(d.options, key);
  if (value.is_number_unsigned()) return std::to_string(value.get<std::uint64_t>());
  if (value.is_number_integer()) return std::to_string(value.get<std::int64_t>());
  if (!value.is_string()) return {};
  std::string out;
  for (const char c : value.get_ref<const std::string&>()) {
    if (c != '-') out.push_back(c);
  }
  return out;
}

// An endpoint option without its trailing slashes, so paths can be appended with one.
std::string option_endpoint(const Destination& d, std::string_view fallback) {
  std::string endpoint = option_string(d, "endpoint", std::string(fallback));
  while (endpoint.ends_with('/')) endpoint.pop_back();
  return endpoint;
}

// Seconds since the epoch of the canonical "yyyy-MM-ddTHH:mm:ssZ" start date.
std::optional<std::int64_t> start_epoch(const json& context) {
  const json& start = at(context, "call.start_date");
  if (!start.is_string()) return std::nullopt;
  return utc_datetime_to_epoch(start.get_ref<const std::string&>());
}

// A parameter the spec does not know (a gbraid, a GA session id), by the names it may be sent
// under: the request's `fields` first; for `complete` and `abandoned` routes, which may see no
// request, the canonical event's `extra`, where normalize keeps unknown parameters.
using Names = std::array<std::string_view, 2>;
constexpr Names kGaSessionNames = {"ga_session_id", "Google.Analytics.SessionId"};
constexpr Names kGbraidNames = {"gbraid", "Google.AdWords.GBraid"};
constexpr Names kWbraidNames = {"wbraid", "Google.AdWords.WBraid"};

std::string sent_parameter(const json& context, const Names& names) {
  for (const char* where : {"fields", "extra"}) {
    for (const std::string_view name : names) {
      const json& value = member(member(context, where), name);
      if (value.is_string() && !value.get_ref<const std::string&>().empty()) {
        return value.get<std::string>();
      }
    }
  }
  return {};
}

// The caller's number in E.164 (normalize_phone's form), or empty for an anonymous caller or
// one whose number is not a full international one (it could not be matched anyway).
std::string caller_e164(const json& context) {
  if (at(context, "call.from.anonymous") == json(true)) return {};
  const json& number = at(context, "call.from.number");
  if (!number.is_string()) return {};
  std::string problem;
  return normalize_phone(number.get_ref<const std::string&>(), problem).value_or(std::string());
}

std::string sha256_hex(std::string_view bytes) {
  const crypto::Sha256Digest digest = crypto::sha256(bytes);
  return crypto::hex_encode(digest);
}

void put_if(detail::SortedObject& object, std::string_view key, const json& value) {
  if (!value.is_null()) object.add_json(key, value);
}

// The first `max_chars` characters of `value` (an ill-formed byte counts as one), so a cut never
// splits a UTF-8 sequence.
std::string first_chars(const std::string& value, std::size_t max_chars) {
  std::size_t at_byte = 0;
  for (std::size_t chars = 0; chars < max_chars && at_byte < value.size(); ++chars) {
    const std::size_t length = detail::utf8_sequence_length(value, at_byte);
    at_byte += length == 0 ? 1 : length;
  }
  return value.substr(0, at_byte);
}

// GA4 keeps the first 100 characters of a string param; cutting here makes what is sent what is
// kept, and keeps the body within GA4's 130 kB whatever a template renders.
void put_param(detail::SortedObject& params, std::string_view key, const json& value) {
  if (value.is_string() && value.get_ref<const std::string&>().size() > kGa4ParamChars) {
    params.add_string(key, first_chars(value.get_ref<const std::string&>(), kGa4ParamChars));
  } else {
    params.add_json(key, value);
  }
}

Rendered render_ga4(const Destination& d, const json& context, std::int64_t now) {
  Rendered out;
  std::string client_id = text(at(context, "google.analytics_client_id"));
  // "GA1.2.1234567890.1714530000" -> "1234567890.1714530000": the cookie's version and domain
  // depth are not part of the client id the Measurement Protocol expects.
  if (client_id.starts_with("GA1.") || client_id.starts_with("GA2.")) {
    const std::size_t second_dot = client_id.find('.', 4);
    if (second_dot != std::string::npos) client_id = client_id.substr(second_dot + 1);
  }
  if (client_id.empty()) {
    out.skipped = "no Google.Analytics.ClientId on this call";
    return out;
  }
  // Written as the platform's objects: members in key order (SortedObject), a param set twice
  // (a template's over a built-in one) with its last value.
  detail::SortedObject params;
  const auto built_in = [&](std::string_view key, std::string_view path) {
    if (const json& value = at(context, path); !value.is_null()) put_param(params, key, value);
  };
  built_in("call_sid", "call.sid");
  built_in("call_event", "event");
  built_in("duration", "call.duration");
  built_in("disposition", "call.disposition");
  built_in("tracking_number", "call.to.number");
  built_in("tracking_line", "call.to.name");
  built_in("caller_country", "call.from.country");
  built_in("source", "attribution.source");
  built_in("medium", "attribution.medium");
  built_in("campaign", "attribution.campaign");
  built_in("content", "attribution.content");
  built_in("traffic_type", "session.traffic_type");
  // GA4 counts an event in a session (Realtime, engagement) only with both session_id and
  // engagement_time_msec; the page's gtag puts the session id in the ga_session_id parameter.
  json session_id;
  if (const json& tpl = member(d.options, "session_id"); tpl.is_string()) {
    session_id = render_option(d.templates ? &d.templates->session_id : nullptr, tpl, context);
  } else {
    const std::string sent = sent_parameter(context, kGaSessionNames);
    if (!sent.empty()) session_id = sent;
  }
  const bool has_session = !session_id.is_null() && session_id != json("");
  if (has_session) put_param(params, "session_id", session_id);
  if (const json& msec = member(d.options, "engagement_time_msec"); msec.is_number_integer()) {
    put_param(params, "engagement_time_msec", msec);
  } else if (has_session) {
    params.add("engagement_time_msec").push_back('1');
  }
  if (d.templates) {
    for (const auto& [key, tpl] : d.templates->params) put_param(params, key, tpl.render(context));
  } else if (const json& extra = member(d.options, "params"); extra.is_object()) {
    for (const auto& [key, value] : extra.items()) {
      put_param(params, key, render_template(value, context));
    }
  }

  detail::SortedObject body;
  body.add_string("client_id", client_id);
  if (const auto epoch = start_epoch(context)) {
    const std::int64_t deadline_ms = (*epoch + kGa4BackdateSeconds) * 1000;
    // now <= 0: the caller has no clock (a rerender asked without one); the event counts as on
    // time, and the deadline below still holds at send time.
    const bool on_time = now <= 0 || *epoch + kGa4BackdateSeconds >= now;
    const bool dead_letter = option_string(d, "late_events") == "dead_letter";
    if (on_time || dead_letter) {
      // Sent with its own time, the event lands when the call happened; past 72 hours GA4
      // ignores the timestamp, so the deadline lets the send planner drop it (or dead-letter it).
      body.add("timestamp_micros") += std::to_string(*epoch * 1000000);
      out.not_after_ms = deadline_ms;
    }
  }
  if (const json& consent = member(d.options, "consent"); consent.is_object()) {
    detail::SortedObject c;
    for (const char* key : {"ad_user_data", "ad_personalization"}) {
      if (const json& v = member(consent, key); v.is_string()) c.add_json(key, v);
    }
    if (!c.empty()) c.write(body.add("consent"));
  }
  std::string& events = body.add("events");
  events += "[{\"name\":";
  if (const json& name = member(d.options, "event_name"); name.is_string()) {
    detail::append_compact_json(events, name);
  } else {
    events += "\"phone_call\"";
  }
  events += ",\"params\":";
  params.write(events);
  events += "}]";
  body.write(out.body);

  if (d.url.empty()) {
    out.url = option_endpoint(d, "https://www.google-analytics.com") +
              "/mp/collect?measurement_id=" +
              detail::percent_encoded(option_string(d, "measurement_id")) +
              "&api_secret=" + detail::percent_encoded(option_string(d, "api_secret"));
  }
  return out;
}

// "2024-05-01T03:15:42Z" -> "2024-05-01 03:15:42+00:00", Google Ads' date-time with its
// mandatory offset.
std::string google_ads_datetime(const std::string& iso) {
  return iso.substr(0, 10) + " " + iso.substr(11, 8) + "+00:00";
}

Rendered render_google_ads(const Destination& d, const json& context) {
  Rendered out;
  const std::string customer = option_id(d, "customer_id");
  // One click id per conversion, gclid first: Google refuses gbraid and wbraid together
  // (GBRAID_WBRAID_BOTH_SET), and a gclid is the most precise of the three.
  std::string_view click_key = "gclid";
  std::string click_id = text(at(context, "google.ads_click_id"));
  if (click_id.empty()) {
    click_key = "gbraid";
    click_id = sent_parameter(context, kGbraidNames);
  }
  if (click_id.empty()) {
    click_key = "wbraid";
    click_id = sent_parameter(context, kWbraidNames);
  }
  // Enhanced conversions for leads: the caller's number, hashed as Google asks (E.164 with its
  // +, SHA-256, lower-case hex), lets Google match a call without a click id. Never for an
  // anonymous caller: there is no number to match.
  std::string hashed_phone;
  if (option_bool(d, "enhanced_conversions", false)) {
    const std::string e164 = caller_e164(context);
    if (!e164.empty()) hashed_phone = sha256_hex(e164);
  }
  if (click_id.empty() && hashed_phone.empty()) {
    out.skipped = option_bool(d, "enhanced_conversions", false)
                      ? "no click id (gclid, gbraid, wbraid) and no caller number on this call"
                      : "no click id (gclid, gbraid, wbraid) on this call";
    return out;
  }
  const json& start = at(context, "call.start_date");
  if (!start_epoch(context)) {
    out.skipped = "no Call.StartDate on this call (the conversion's time)";
    return out;
  }

  detail::SortedObject conversion;
  if (!click_id.empty()) conversion.add_string(click_key, click_id);
  std::string action = option_string(d, "conversion_action");
  // A bare action id is the one in the Ads UI's URL (ctId); the API wants the resource name.
  if (detail::all_digits(action)) action = "customers/" + customer + "/conversionActions/" + action;
  conversion.add_string("conversionAction", action);
  conversion.add_string("conversionDateTime", google_ads_datetime(start.get<std::string>()));
  if (const json& value = member(d.options, "value"); value.is_number()) {
    conversion.add_json("conversionValue", value);
  }
  std::string currency = option_string(d, "currency", "USD");
  for (char& c : currency) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  conversion.add_string("currencyCode", currency);
  // One conversion per call and action: Google keeps the first with this order id and answers
  // ORDER_ID_ALREADY_IN_USE to a second, which platforms.cpp reads as already recorded.
  put_if(conversion, "orderId", at(context, "call.sid"));
  if (const json& consent = member(member(d.options, "consent"), "ad_user_data");
      consent.is_string()) {
    std::string& text = conversion.add("consent");
    text += "{\"adUserData\":";
    detail::append_compact_json(text, consent);
    text += '}';
  }
  if (!hashed_phone.empty()) {
    conversion.add("userIdentifiers") += "[{\"hashedPhoneNumber\":\"" + hashed_phone +
                                         "\",\"userIdentifierSource\":\"FIRST_PARTY\"}]";
  }
  // partialFailure must be true (Google refuses the request otherwise), so a refused row comes
  // back inside a 200 as partialFailureError.
  out.body = "{\"conversions\":[";
  conversion.write(out.body);
  out.body += "],\"partialFailure\":true";
  if (option_bool(d, "validate_only", false)) out.body += ",\"validateOnly\":true";
  out.body += '}';

  if (d.url.empty()) {
    const json& version = member(d.options, "version");
    out.url = option_endpoint(d, "https://googleads.googleapis.com") + "/v" +
              (version.is_number_integer() ? std::to_string(version.get<std::int64_t>())
                                           : std::string("23")) +
              "/customers/" + customer + ":uploadClickConversions";
  }
  if (const std::string token = option_string(d, "developer_token"); !token.empty()) {
    out.headers.push_back({"developer-token", token});
  }
  if (const std::string manager = option_id(d, "login_customer_id"); !manager.empty()) {
    out.headers.push_back({"login-customer-id", manager});
  }
  return out;
}

// "v21.0", or a bare major number (21) written as Graph's "v21.0".
std::string meta_version(const Destination& d) {
  const json& version = member(d.options, "version");
  if (version.is_number_integer()) return "v" + std::to_string(version.get<std::int64_t>()) + ".0";
  if (version.is_string() && !version.get_ref<const std::string&>().empty()) {
    return version.get<std::string>();
  }
  return "v25.0";
}

Rendered render_meta(const Destination& d, const json& context) {
  Rendered out;
  const auto epoch = start_epoch(context);
  if (!epoch) {
    out.skipped = "no Call.StartDate on this call (Meta's event_time)";
    return out;
  }
  // Meta needs customer information to attribute a server event, and a phone call offers only
  // the caller's number (the country alone is too broad: error 2804050).
  const std::string e164 = caller_e164(context);
  if (e164.empty()) {
    out.skipped = "no caller number to match on";
    return out;
  }
  // Written in key order, as Graph's objects: {"access_token", "data": [{"action_source",
  // "custom_data", "event_id", "event_name", "event_time", "user_data": {"country", "ph"}}],
  // "test_event_code"}.
  out.body = "{\"access_token\":";
  detail::append_json_text(out.body, option_string(d, "access_token"));
  out.body += ",\"data\":[{\"action_source\":\"phone_call\"";
  if (const json& custom = member(d.options, "custom_data"); custom.is_object()) {
    out.body += ",\"custom_data\":";
    detail::append_compact_json(
        out.body,
        render_option(d.templates ? &d.templates->custom_data : nullptr, custom, context));
  }
  // The call and its event: Meta counts events of one name with one event_id once (48 h), so
  // routes sending the same webhook of a call to one pixel under one name count once, and a
  // rerendered dead letter keeps its id.
  out.body += ",\"event_id\":";
  detail::append_json_text(out.body,
                           text(at(context, "call.sid")) + ":" + text(at(context, "event")));
  out.body += ",\"event_name\":";
  detail::append_json_text(out.body, option_string(d, "event_name", "Lead"));
  out.body += ",\"event_time\":" + std::to_string(*epoch) + ",\"user_data\":{";
  if (const json& country = at(context, "call.from.country"); country.is_string()) {
    const std::string code = detail::ascii_lower_copy(country.get<std::string>());
    if (code.size() == 2 && code[0] >= 'a' && code[0] <= 'z' && code[1] >= 'a' && code[1] <= 'z') {
      out.body += "\"country\":[\"" + sha256_hex(code) + "\"],";
    }
  }
  // Meta hashes the digits with their country code and without the +.
  out.body += "\"ph\":[\"" + sha256_hex(std::string_view(e164).substr(1)) + "\"]}}]";
  if (const std::string code = option_string(d, "test_event_code"); !code.empty()) {
    out.body += ",\"test_event_code\":";
    detail::append_json_text(out.body, code);
  }
  out.body += '}';
  // Meta refuses the whole request once event_time is more than 7 days old; past that the send
  // planner dead-letters the delivery with deadline_reason (it may be past already).
  out.not_after_ms = (*epoch + kMetaWindowSeconds) * 1000;
  if (d.url.empty()) {
    out.url = option_endpoint(d, "https://graph.facebook.com") + "/" + meta_version(d) + "/" +
              option_id(d, "pixel_id") + "/events";
  }
  return out;
}

std::string duration_text(const json& seconds) {
  if (!seconds.is_number_integer()) return {};
  const auto s = seconds.get<std::int64_t>();
  return s >= 60 ? std::to_string(s / 60) + "m " + std::to_string(s % 60) + "s"
                 : std::to_string(s) + "s";
}

Rendered render_slack(const json& context) {
  const bool complete = text(at(context, "event")) == "Call.Complete";
  std::string caller = text(at(context, "call.from.number"));
  if (at(context, "call.from.anonymous") == json(true)) caller = "an anonymous caller";
  if (caller.empty()) caller = "unknown caller";
  std::string place = text(at(context, "call.from.city"));
  const std::string country = text(at(context, "call.from.country"));
  if (!country.empty()) place += place.empty() ? country : ", " + country;
  const std::string line = text(at(context, "call.to.name"));
  std::string headline =
      complete ? ":telephone_receiver: Call completed" : ":telephone: Incoming call";
  headline += " from " + caller;
  if (!place.empty()) headline += " (" + place + ")";
  if (!line.empty()) headline += " to " + line;
  std::string details;
  if (complete) {
    details = "*" + text(at(context, "call.disposition")) + "*";
    const std::string length = duration_text(at(context, "call.duration"));
    if (!length.empty()) details += ", " + length;
  }
  const std::string source = text(at(context, "attribution.source"));
  const std::string medium = text(at(context, "attribution.medium"));
  const std::string campaign = text(at(context, "attribution.campaign"));
  std::string attribution;
  if (!source.empty() || !medium.empty()) attribution = source + " / " + medium;
  if (!campaign.empty()) attribution += (attribution.empty() ? "" : ", ") + campaign;

  // Written in key order, as Slack's objects: {"blocks": [...], "text"}, each block
  // {"elements"|"fields"|"text", "type"}, each text {"text", "type"}.
  const auto mrkdwn = [](std::string& body, std::string_view value) {
    body += "{\"text\":";
    detail::append_json_text(body, value);
    body += ",\"type\":\"mrkdwn\"}";
  };
  Rendered out;
  std::string& body = out.body;
  body = "{\"blocks\":[{\"text\":";
  mrkdwn(body, headline);
  body += ",\"type\":\"section\"},";
  if (!details.empty() || !attribution.empty()) {
    body += "{\"fields\":[";
    if (!details.empty()) mrkdwn(body, "*Outcome*\n" + details);
    if (!details.empty() && !attribution.empty()) body += ',';
    if (!attribution.empty()) mrkdwn(body, "*Attribution*\n" + attribution);
    body += "],\"type\":\"section\"},";
  }
  body += "{\"elements\":[";
  mrkdwn(body, "Call " + text(at(context, "call.sid")));
  body += "],\"type\":\"context\"}],\"text\":";
  std::string fallback = headline;
  if (!details.empty()) fallback += ": " + details;
  detail::append_json_text(body, fallback);
  body += '}';
  return out;
}

}  // namespace

std::vector<std::string_view> sent_parameter_names(RenderFormat format) {
  switch (format) {
    case RenderFormat::ga4:
      return {kGaSessionNames.begin(), kGaSessionNames.end()};
    case RenderFormat::google_ads:
      return {kGbraidNames[0], kGbraidNames[1], kWbraidNames[0], kWbraidNames[1]};
    default:
      return {};
  }
}

void compile_templates(Config& config) {
  for (Destination& d : config.destinations) {
    if (d.templates) continue;  // compiled already
    auto templates = std::make_shared<DestinationTemplates>();
    const auto compiled = [&d](std::string_view key, std::optional<CompiledTemplate>& out) {
      if (const json& tpl = member(d.options, key); !tpl.is_null()) out.emplace(tpl);
    };
    switch (d.format) {
      case RenderFormat::json_template:
        compiled("body", templates->body);
        break;
      case RenderFormat::ga4:
        if (member(d.options, "session_id").is_string())
          compiled("session_id", templates->session_id);
        if (const json& extra = member(d.options, "params"); extra.is_object()) {
          for (const auto& [key, value] : extra.items()) {
            templates->params.emplace_back(key, CompiledTemplate(value));
          }
        }
        break;
      case RenderFormat::meta_capi:
        if (member(d.options, "custom_data").is_object()) {
          compiled("custom_data", templates->custom_data);
        }
        break;
      default:
        break;
    }
    d.templates = std::move(templates);
  }
  if (!config.context_plan) {
    config.context_plan = std::make_shared<const ContextPlan>(detail::plan_context(config));
  }
}

Rendered render(const Destination& destination, std::string_view canonical, const json& context,
                std::int64_t now) {
  switch (destination.format) {
    case RenderFormat::canonical: {
      Rendered out;
      out.body = canonical;
      return out;
    }
    case RenderFormat::ga4:
      return render_ga4(destination, context, now);
    case RenderFormat::google_ads:
      return render_google_ads(destination, context);
    case RenderFormat::meta_capi:
      return render_meta(destination, context);
    case RenderFormat::slack:
      return render_slack(context);
    case RenderFormat::json_template: {
      Rendered out;
      if (destination.templates && destination.templates->body) {
        destination.templates->body->write(out.body, context);
      } else {
        out.body = dump(render_template(member(destination.options, "body"), context));
      }
      return out;
    }
  }
  return {};
}

}  // namespace callhook
