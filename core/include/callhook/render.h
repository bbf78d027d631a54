// Rendering the body a destination receives from one accepted event.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "callhook/config.h"
#include "callhook/delivery.h"
#include "callhook/engine.h"

namespace callhook {

struct Rendered {
  std::string body;  // set when `skipped` is empty
  std::string content_type = "application/json";
  std::string skipped;  // why nothing can be sent (e.g. no GA client id); empty if sent
  /// The request URL when the format builds it from its options (google-ads and meta-capi, ga4
  /// from measurement_id and api_secret) because the destination has no `url`; empty: the
  /// destination's `url`.
  std::string url;
  /// Headers the format adds after the destination's own (Google Ads' developer-token and
  /// login-customer-id); one the destination sets itself is not added again.
  std::vector<HttpHeader> headers;
  /// Delivery::not_after_ms: the platform's deadline for this event (0: none). Already past when
  /// the format was told to dead-letter late events (GA4's `late_events: "dead_letter"`).
  std::int64_t not_after_ms = 0;
};

/// Renders `destination`'s body at `now` (epoch seconds; 0 or less: no clock, the event counts
/// as on time, as GA4's 72 hours go). `canonical` is the canonical event as
/// written by write_canonical_json; `context` is the document filters and templates see: the
/// canonical event's keys at the top, and `fields`, `headers` and `query` objects (templates
/// read a top key starting with A-Z, such as "Call.Sid", from `fields`).
[[nodiscard]] Rendered render(const Destination& destination, std::string_view canonical,
                              const nlohmann::json& context, std::int64_t now);

/// The request parameters `format` reads from the filter context's `fields` itself (GA4's
/// session id, Google Ads' gbraid and wbraid), by the names they may be sent under.
[[nodiscard]] std::vector<std::string_view> sent_parameter_names(RenderFormat format);

/// Compiles each destination's option templates (the template format's `body`, GA4's
/// `session_id` and `params`, Meta's `custom_data`) into `Destination::templates`, so that no
/// render parses them again (a destination compiled already is left as it is), and works out
/// what of a request the routes can read (Config::context_plan, routing.h's ContextPlan).
/// Engine::from_config and parse_config_unbound do it; routing is the same without it.
void compile_templates(Config& config);

/// How `format` reads a destination's answers: nullptr when the status alone decides.
[[nodiscard]] AnswerReader answer_reader(RenderFormat format);

/// Why `format` no longer accepts a delivery past its deadline, for people ("GA4 ignores
/// timestamp_micros older than 72 hours").
[[nodiscard]] std::string_view deadline_reason(RenderFormat format);

/// A delivery's body to send instead once its deadline passed, when the destination says so
/// (GA4 with `late_events: "send_without_timestamp"`: the body without `timestamp_micros`);
/// nullopt: the delivery is dead.
[[nodiscard]] std::optional<std::string> body_past_deadline(const Destination& destination,
                                                            std::string_view body);

/// The platform's own check of a delivery, for `callhook check-destination --send`: Google Ads
/// with `validateOnly: true`, GA4's `/debug/mp/collect`, Meta with a `test_event_code`
/// (`test_event_code` given, or the destination's option). nullopt, with `problem`, when the
/// format has no check (or Meta has no test event code).
[[nodiscard]] std::optional<Delivery> check_request(const Destination& destination,
                                                    const Delivery& delivery,
                                                    std::string_view test_event_code,
                                                    std::string& problem);

/// The platform's verdict on a check_request: accepted or not, and each message it gave (GA4's
/// validationMessages as "fieldPath: description (validationCode)", Google Ads' row errors,
/// Meta's error).
struct CheckVerdict {
  bool accepted = false;
  std::vector<std::string> messages;
};
[[nodiscard]] CheckVerdict read_check_answer(const Destination& destination,
                                             const AttemptAnswer& answer);

}  // namespace callhook
