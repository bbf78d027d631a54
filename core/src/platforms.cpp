// What the platforms answer, read as their contracts document it
// (the destinations contract): Google Ads' partialFailureError inside a 200 and its
// REST error envelope, Meta's Graph error envelope, GA4's validation messages. Also each
// platform's own check of a delivery (check_request) and its deadline (GA4's 72 hours, Meta's 7
// days). The requests themselves are rendered in render.cpp.
#include <cmath>
#include <nlohmann/json.hpp>

#include "callhook/render.h"
#include "compact_json.h"

namespace callhook {
namespace {

using nlohmann::json;
using Kind = AttemptVerdict::Kind;

// Google asks for a retry after 6 hours when the click, call or conversion action is younger
// than that (TOO_RECENT_*: "Retry after 6 hours have passed").
constexpr std::int64_t kSixHoursMs = 6 * 3600 * 1000;

const json& member(const json& object, std::string_view key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  const auto it = object.find(std::string(key));
  return it == object.end() ? kNull : *it;
}

std::string string_of(const json& value) {
  return value.is_string() ? value.get<std::string>() : std::string();
}

std::string dump(const json& value) {
  return detail::dump_compact_json(value);
}

json parse(std::string_view body) {
  return json::parse(body.begin(), body.end(), nullptr, false);
}

bool is_2xx(const AttemptAnswer& answer) {
  return answer.kind == AttemptAnswer::Kind::answered && answer.status >= 200 &&
         answer.status <= 299;
}

FormatVerdict verdict(Kind kind, std::string code, std::string reason,
                      std::int64_t retry_in_ms = -1) {
  FormatVerdict v;
  v.kind = kind;
  v.code = std::move(code);
  v.reason = std::move(reason);
  v.retry_in_ms = retry_in_ms;
  return v;
}

// ---- Google Ads ------------------------------------------------------------------------------

// One GoogleAdsError: its errorCode's family (the oneof's key, e.g. conversionUploadError) and
// value, its message, and a quota error's retryDelay (-1: none).
struct AdsError {
  std::string family;
  std::string code;
  std::string message;
  std::int64_t retry_delay_ms = -1;
};

// A protobuf Duration in JSON: "30s", "1.5s" (or, leniently, {"seconds": 30}).
std::int64_t duration_ms(const json& value) {
  double seconds = -1;
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (s.size() < 2 || s.back() != 's') return -1;
    double whole = 0;
    double scale = 0;  // 0: before the decimal point
    for (std::size_t i = 0; i + 1 < s.size(); ++i) {
      const char c = s[i];
      if (c == '.' && scale == 0) {
        scale = 0.1;
      } else if (c >= '0' && c <= '9') {
        if (scale == 0) {
          whole = whole * 10 + (c - '0');
        } else {
          whole += (c - '0') * scale;
          scale /= 10;
        }
      } else {
        return -1;
      }
    }
    seconds = whole;
  } else if (const json& s = member(value, "seconds"); s.is_number()) {
    seconds = s.get<double>();
  }
  if (!(seconds >= 0) || seconds > 30.0 * 86400) return -1;
  return static_cast<std::int64_t>(std::llround(seconds * 1000));
}

// Every GoogleAdsError of a google.rpc.Status (a partialFailureError, or a whole-request error's
// `error`): its details hold one GoogleAdsFailure with all of them.
std::vector<AdsError> ads_errors(const json& status) {
  std::vector<AdsError> out;
  const json& details = member(status, "details");
  if (!details.is_array()) return out;
  for (const json& failure : details) {
    const json& errors = member(failure, "errors");
    if (!errors.is_array()) continue;
    for (const json& e : errors) {
      if (!e.is_object()) continue;
      AdsError error;
      if (const json& code = member(e, "errorCode"); code.is_object()) {
        for (const auto& [family, value] : code.items()) {
          if (!value.is_string()) continue;
          error.family = family;
          error.code = value.get<std::string>();
          break;
        }
      }
      error.message = string_of(member(e, "message"));
      error.retry_delay_ms =
          duration_ms(member(member(member(e, "details"), "quotaErrorDetails"), "retryDelay"));
      out.push_back(std::move(error));
    }
  }
  return out;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

std::string row_reason(const AdsError& e) {
  std::string out = "Google Ads " + (e.code.empty() ? std::string("error") : e.code);
  if (!e.message.empty()) out += ": " + e.message;
  return out;
}

std::string request_reason(const AdsError& e) {
  std::string out = "Google Ads " + (e.family.empty() ? std::string("error") : e.family);
  if (!e.code.empty()) out += ": " + e.code;
  if (!e.message.empty()) out += ": " + e.message;
  return out;
}

// A row's errors decide together. Every error counts: callhook sends one conversion per request,
// so each one is that conversion's (an error without a `conversions` index concerns the whole
// request, and so the conversion too). Google having the conversion already wins (nothing is
// left to do); then any refusal (a retry cannot change it); then a wait of 6 hours; then the
// retry policy's schedule (an internal error).
FormatVerdict rows_verdict(const std::vector<AdsError>& errors) {
  std::vector<std::string> recorded;
  std::vector<std::string> refused;
  std::vector<std::string> later;
  std::vector<std::string> transient;
  for (const AdsError& e : errors) {
    const bool upload = e.family == "conversionUploadError";
    if (upload &&
        (e.code == "ORDER_ID_ALREADY_IN_USE" || e.code == "CLICK_CONVERSION_ALREADY_EXISTS")) {
      recorded.push_back(row_reason(e));
    } else if (upload &&
               (e.code == "TOO_RECENT_EVENT" || e.code == "TOO_RECENT_CONVERSION_ACTION" ||
                e.code == "TOO_RECENT_CALL")) {
      later.push_back(row_reason(e));
    } else if (e.family == "internalError") {
      transient.push_back(row_reason(e));
    } else {
      refused.push_back(row_reason(e));
    }
  }
  if (!recorded.empty()) return verdict(Kind::delivered, "already_recorded", joined(recorded));
  if (!refused.empty()) return verdict(Kind::dead, "rejected", joined(refused));
  if (!later.empty()) return verdict(Kind::retry, "platform_retry", joined(later), kSixHoursMs);
  return verdict(Kind::retry, "platform_retry", joined(transient));
}

std::optional<FormatVerdict> read_google_ads_answer(const AttemptAnswer& answer) {
  if (answer.kind != AttemptAnswer::Kind::answered) return std::nullopt;
  const json doc = parse(answer.body);
  if (is_2xx(answer)) {
    const json& failure = member(doc, "partialFailureError");
    if (failure.is_null()) return std::nullopt;  // every row was taken
    const std::vector<AdsError> errors = ads_errors(failure);
    if (!errors.empty()) return rows_verdict(errors);
    const std::string message = string_of(member(failure, "message"));
    const json& code = member(failure, "code");
    if (message.empty() && (code.is_null() || code == json(0))) {
      return std::nullopt;  // an empty status: nothing was refused
    }
    // Without its GoogleAdsFailure the status says only that something was refused.
    return verdict(
        Kind::dead, "rejected",
        "Google Ads partialFailureError: " + (message.empty() ? dump(failure) : message));
  }
  // A 5xx is the retry policy's to judge, as for any destination; so is an answer that is not
  // Google's error envelope (a proxy's page).
  if (answer.status < 400 || answer.status > 499) return std::nullopt;
  const json& error = member(doc, "error");
  if (!error.is_object()) return std::nullopt;
  const std::vector<AdsError> errors = ads_errors(error);
  const std::string status = string_of(member(error, "status"));
  const std::string message = string_of(member(error, "message"));
  if (answer.status == 401) {
    // An expired or invalid access token is worth one fresh token; a 401 from Google's front
    // end carries no GoogleAdsFailure at all and means the same. Other authentication errors
    // (NOT_ADS_USER, OAUTH_TOKEN_REVOKED, ...) need a person.
    bool token = errors.empty();
    for (const AdsError& e : errors) {
      token = token || (e.family == "authenticationError" &&
                        (e.code == "OAUTH_TOKEN_EXPIRED" || e.code == "OAUTH_TOKEN_INVALID"));
    }
    if (token) {
      FormatVerdict v = verdict(
          Kind::retry, "token_rejected",
          errors.empty() ? "Google Ads " + status + ": " + message : request_reason(errors.front()),
          0);
      v.token_expired = true;
      return v;
    }
  }
  if (answer.status == 429) {
    // A quota: its retryDelay says when (a daily limit's is the next day). Without one, the
    // retry policy's handling of 429 (Retry-After, the schedule) applies.
    for (const AdsError& e : errors) {
      if (e.retry_delay_ms >= 0) {
        return verdict(Kind::retry, "platform_retry", request_reason(e), e.retry_delay_ms);
      }
    }
    return std::nullopt;
  }
  std::vector<std::string> reasons;
  for (const AdsError& e : errors) reasons.push_back(request_reason(e));
  if (reasons.empty()) {
    reasons.push_back("Google Ads " + (status.empty() ? std::to_string(answer.status) : status) +
                      (message.empty() ? "" : ": " + message));
  }
  return verdict(Kind::dead, "rejected", joined(reasons));
}

// ---- Meta ------------------------------------------------------------------------------------

struct GraphError {
  std::int64_t code = 0;
  std::int64_t subcode = 0;
  bool transient = false;
  std::string reason;  // "Meta 100/2804050 OAuthException: Invalid parameter: ..."
};

std::int64_t integer_of(const json& value) {
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_string()) {  // Graph has been seen sending codes as strings
    std::int64_t n = 0;
    for (const char c : value.get_ref<const std::string&>()) {
      if (c < '0' || c > '9' || n > 1'000'000'000'000) return 0;
      n = n * 10 + (c - '0');
    }
    return n;
  }
  return 0;
}

std::optional<GraphError> graph_error(const json& doc) {
  const json& error = member(doc, "error");
  if (!error.is_object()) return std::nullopt;
  GraphError e;
  e.code = integer_of(member(error, "code"));
  e.subcode = integer_of(member(error, "error_subcode"));
  e.transient = member(error, "is_transient") == json(true);
  e.reason = "Meta " + std::to_string(e.code);
  if (e.subcode != 0) e.reason += "/" + std::to_string(e.subcode);
  if (const std::string type = string_of(member(error, "type")); !type.empty()) {
    e.reason += " " + type;
  }
  const std::string message = string_of(member(error, "message"));
  if (!message.empty()) e.reason += ": " + message;
  // The user message is what explains a payload refusal ("This event has insufficient customer
  // information."); the message alone is often just "Invalid parameter".
  const std::string user = string_of(member(error, "error_user_msg"));
  if (!user.empty() && user != message) e.reason += ": " + user;
  return e;
}

std::optional<FormatVerdict> read_meta_answer(const AttemptAnswer& answer) {
  if (answer.kind != AttemptAnswer::Kind::answered || is_2xx(answer)) return std::nullopt;
  const auto error = graph_error(parse(answer.body));
  if (!error) return std::nullopt;
  // Graph's error-handling guide: 1 and 2 are temporary, 4, 17, 32 and 613 are rate limits, 341
  // and 368 lift later; is_transient says so for the rest. 190 is a bad access token: it is a
  // static token in the config, so no refresh can help.
  static constexpr std::int64_t kLater[] = {1, 2, 4, 17, 32, 341, 368, 613};
  bool later = error->transient;
  for (const std::int64_t code : kLater) later = later || error->code == code;
  if (later) return verdict(Kind::retry, "platform_retry", error->reason);
  return verdict(Kind::dead, "rejected", error->reason);
}

std::string ga4_option(const Destination& d, std::string_view key) {
  return string_of(member(d.options, key));
}

std::string http_status(const AttemptAnswer& answer) {
  switch (answer.kind) {
    case AttemptAnswer::Kind::answered:
      return "HTTP " + std::to_string(answer.status);
    case AttemptAnswer::Kind::timeout:
      return "no answer in time";
    case AttemptAnswer::Kind::redirect:
      return "a redirect";
    case AttemptAnswer::Kind::transport_error:
    case AttemptAnswer::Kind::unsendable:
      break;
  }
  return answer.error.empty() ? std::string("not sent") : answer.error;
}

// A delivery whose JSON body gets one more top-level member.
std::optional<Delivery> with_member(const Delivery& delivery, const char* key, const json& value,
                                    std::string& problem) {
  json body = parse(delivery.body);
  if (!body.is_object()) {
    problem = "the delivery's body is not a JSON object";
    return std::nullopt;
  }
  body[key] = value;
  Delivery check = delivery;
  check.body = dump(body);
  return check;
}

}  // namespace

AnswerReader answer_reader(RenderFormat format) {
  switch (format) {
    case RenderFormat::google_ads:
      return &read_google_ads_answer;
    case RenderFormat::meta_capi:
      return &read_meta_answer;
    case RenderFormat::canonical:
    case RenderFormat::ga4:  // /mp/collect answers 2xx whatever it received
    case RenderFormat::slack:
    case RenderFormat::json_template:
      break;
  }
  return nullptr;
}

std::string_view deadline_reason(RenderFormat format) {
  switch (format) {
    case RenderFormat::ga4:
      return "GA4 ignores timestamp_micros older than 72 hours";
    case RenderFormat::meta_capi:
      return "Meta rejects events older than 7 days";
    case RenderFormat::canonical:
    case RenderFormat::google_ads:
    case RenderFormat::slack:
    case RenderFormat::json_template:
      break;
  }
  return {};
}

std::optional<std::string> body_past_deadline(const Destination& destination,
                                              std::string_view body) {
  if (destination.format != RenderFormat::ga4) return std::nullopt;
  if (ga4_option(destination, "late_events") == "dead_letter") return std::nullopt;
  // Without timestamp_micros GA4 takes the event at the time it arrives: late, but counted.
  json doc = parse(body);
  if (!doc.is_object()) return std::nullopt;
  doc.erase("timestamp_micros");
  return dump(doc);
}

std::optional<Delivery> check_request(const Destination& destination, const Delivery& delivery,
                                      std::string_view test_event_code, std::string& problem) {
  switch (destination.format) {
    case RenderFormat::google_ads:
      return with_member(delivery, "validateOnly", true, problem);
    case RenderFormat::ga4: {
      // The validation server takes the same request at /debug/mp/collect.
      const std::size_t path = delivery.url.find("/mp/collect");
      if (path == std::string::npos) {
        problem = "the destination's URL has no /mp/collect path to validate at /debug/mp/collect";
        return std::nullopt;
      }
      Delivery check = delivery;
      check.url.insert(path, "/debug");
      return check;
    }
    case RenderFormat::meta_capi: {
      std::string code(test_event_code);
      if (code.empty()) code = ga4_option(destination, "test_event_code");
      if (code.empty()) {
        problem =
            "Meta checks an event only under a test event code (Events Manager, Test events): "
            "give one, or set options.test_event_code";
        return std::nullopt;
      }
      return with_member(delivery, "test_event_code", code, problem);
    }
    case RenderFormat::canonical:
    case RenderFormat::slack:
    case RenderFormat::json_template:
      break;
  }
  problem = "the " + std::string(to_string(destination.format)) +
            " format has no check of its own on the platform";
  return std::nullopt;
}

CheckVerdict read_check_answer(const Destination& destination, const AttemptAnswer& answer) {
  CheckVerdict out;
  const json doc = parse(answer.body);
  switch (destination.format) {
    case RenderFormat::google_ads: {
      const json& failure =
          is_2xx(answer) ? member(doc, "partialFailureError") : member(doc, "error");
      for (const AdsError& e : ads_errors(failure)) {
        std::string m = e.family.empty() ? std::string("error") : e.family;
        if (!e.code.empty()) m += ": " + e.code;
        if (!e.message.empty()) m += ": " + e.message;
        out.messages.push_back(std::move(m));
      }
      if (is_2xx(answer) && failure.is_null()) {
        out.accepted = true;
      } else if (out.messages.empty()) {
        const std::string message = string_of(member(failure, "message"));
        out.messages.push_back(http_status(answer) + (message.empty() ? "" : ": " + message));
      }
      return out;
    }
    case RenderFormat::ga4: {
      const json& messages = member(doc, "validationMessages");
      if (!is_2xx(answer) || !messages.is_array()) {
        out.messages.push_back(http_status(answer) +
                               (is_2xx(answer) ? ": not the validation server's answer" : ""));
        return out;
      }
      for (const json& m : messages) {
        out.messages.push_back(string_of(member(m, "fieldPath")) + ": " +
                               string_of(member(m, "description")) + " (" +
                               string_of(member(m, "validationCode")) + ")");
      }
      out.accepted = out.messages.empty();
      return out;
    }
    case RenderFormat::meta_capi: {
      if (const auto error = graph_error(doc)) {
        out.messages.push_back(error->reason);
        return out;
      }
      if (!is_2xx(answer)) {
        out.messages.push_back(http_status(answer));
        return out;
      }
      if (const json& messages = member(doc, "messages"); messages.is_array()) {
        for (const json& m : messages)
          out.messages.push_back(m.is_string() ? m.get<std::string>() : dump(m));
      }
      const json& received = member(doc, "events_received");
      out.accepted = received.is_number_integer() && received.get<std::int64_t>() >= 1;
      if (!out.accepted) out.messages.push_back("Meta received no event");
      return out;
    }
    case RenderFormat::canonical:
    case RenderFormat::slack:
    case RenderFormat::json_template:
      break;
  }
  out.accepted = is_2xx(answer);
  if (!out.accepted) out.messages.push_back(http_status(answer));
  return out;
}

}  // namespace callhook
