#include "callhook/render.h"

#include "callhook/spec.h"
#include "template.h"

namespace callhook {
namespace {

using nlohmann::json;

// The value at a dotted path of `context`, or null.
const json& at(const json& context, std::string_view path) {
  static const json kNull;
  const json* node = &context;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t dot = path.find('.', pos);
    if (dot == std::string_view::npos) dot = path.size();
    if (!node->is_object()) return kNull;
    const auto it = node->find(std::string(path.substr(pos, dot - pos)));
    if (it == node->end()) return kNull;
    node = &*it;
    pos = dot + 1;
  }
  return *node;
}

// Headers can carry any bytes, so serialising must never trip over invalid UTF-8.
std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return std::string();
  return dump(value);
}

// Seconds since the epoch of the canonical "yyyy-MM-ddTHH:mm:ssZ" start date.
std::optional<std::int64_t> start_epoch(const json& context) {
  const json& start = at(context, "call.start_date");
  if (!start.is_string()) return std::nullopt;
  return utc_datetime_to_epoch(start.get_ref<const std::string&>());
}

void put_if(json& object, const char* key, const json& value) {
  if (!value.is_null()) object[key] = value;
}

Rendered render_ga4(const Destination& d, const json& context) {
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
  json params = json::object();
  put_if(params, "call_sid", at(context, "call.sid"));
  put_if(params, "call_event", at(context, "event"));
  put_if(params, "duration", at(context, "call.duration"));
  put_if(params, "disposition", at(context, "call.disposition"));
  put_if(params, "tracking_number", at(context, "call.to.number"));
  put_if(params, "tracking_line", at(context, "call.to.name"));
  put_if(params, "caller_country", at(context, "call.from.country"));
  put_if(params, "source", at(context, "attribution.source"));
  put_if(params, "medium", at(context, "attribution.medium"));
  put_if(params, "campaign", at(context, "attribution.campaign"));
  put_if(params, "content", at(context, "attribution.content"));
  put_if(params, "traffic_type", at(context, "session.traffic_type"));
  if (const json* extra = d.options.contains("params") ? &d.options["params"] : nullptr;
      extra && extra->is_object()) {
    for (const auto& [key, value] : extra->items()) params[key] = render_template(value, context);
  }
  json body = {{"client_id", client_id}};
  if (const auto epoch = start_epoch(context)) body["timestamp_micros"] = *epoch * 1000000;
  const json name = d.options.is_object() ? d.options.value("event_name", json("phone_call"))
                                          : json("phone_call");
  body["events"] = json::array({{{"name", name}, {"params", params}}});
  out.body = dump(body);
  return out;
}

Rendered render_google_ads(const Destination& d, const json& context) {
  Rendered out;
  const std::string gclid = text(at(context, "google.ads_click_id"));
  if (gclid.empty()) {
    out.skipped = "no Google.AdWords.ClickId (GCLID) on this call";
    return out;
  }
  json conversion = {{"gclid", gclid},
                     {"conversion_action", d.options.value("conversion_action", std::string())}};
  if (const auto epoch = start_epoch(context)) {
    // "yyyy-mm-dd hh:mm:ss+00:00", the format Google Ads requires for conversion_date_time.
    const std::string iso = at(context, "call.start_date").get<std::string>();
    conversion["conversion_date_time"] = iso.substr(0, 10) + " " + iso.substr(11, 8) + "+00:00";
  }
  if (d.options.contains("value")) conversion["conversion_value"] = d.options["value"];
  conversion["currency_code"] = d.options.value("currency", std::string("USD"));
  put_if(conversion, "order_id", at(context, "call.sid"));
  out.body = dump(json{{"conversions", json::array({conversion})}, {"partial_failure", true}});
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

  json blocks = json::array();
  blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", headline}}}});
  json fields = json::array();
  if (!details.empty()) fields.push_back({{"type", "mrkdwn"}, {"text", "*Outcome*\n" + details}});
  if (!attribution.empty()) {
    fields.push_back({{"type", "mrkdwn"}, {"text", "*Attribution*\n" + attribution}});
  }
  if (!fields.empty()) blocks.push_back({{"type", "section"}, {"fields", fields}});
  blocks.push_back(
      {{"type", "context"},
       {"elements",
        json::array({{{"type", "mrkdwn"}, {"text", "Call " + text(at(context, "call.sid"))}}})}});
  std::string fallback = headline;
  if (!details.empty()) fallback += ": " + details;
  Rendered out;
  out.body = dump(json{{"text", fallback}, {"blocks", blocks}});
  return out;
}

}  // namespace

Rendered render(const Destination& destination, std::string_view canonical, const json& context) {
  switch (destination.format) {
    case RenderFormat::canonical: {
      Rendered out;
      out.body = canonical;
      return out;
    }
    case RenderFormat::ga4:
      return render_ga4(destination, context);
    case RenderFormat::google_ads:
      return render_google_ads(destination, context);
    case RenderFormat::slack:
      return render_slack(context);
    case RenderFormat::json_template: {
      Rendered out;
      const auto body = destination.options.is_object() ? destination.options.find("body")
                                                        : destination.options.end();
      out.body = dump(render_template(body == destination.options.end() ? json() : *body, context));
      return out;
    }
  }
  return {};
}

namespace {

// A google.rpc.Status in `partialFailureError` means rows were refused inside the 200.
std::optional<std::string> read_google_ads_answer(const AttemptAnswer& answer) {
  const json doc = json::parse(answer.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  const auto it = doc.find("partialFailureError");
  if (it == doc.end() || it->is_null()) return std::nullopt;
  if (it->is_object()) {
    const auto message = it->find("message");
    if (message != it->end() && message->is_string() &&
        !message->get_ref<const std::string&>().empty()) {
      return "partialFailureError: " + message->get<std::string>();
    }
    const auto code = it->find("code");
    if (code == it->end() || (code->is_number_integer() && code->get<std::int64_t>() == 0)) {
      return std::nullopt;  // an empty status: nothing was refused
    }
  }
  return "partialFailureError: " + it->dump();
}

}  // namespace

AnswerReader answer_reader(RenderFormat format) {
  return format == RenderFormat::google_ads ? &read_google_ads_answer : nullptr;
}

}  // namespace callhook
