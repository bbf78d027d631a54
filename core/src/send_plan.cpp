// The step before each attempt of a stored delivery (Engine::plan_send): whether it may still be
// sent (its platform's deadline), when (its destination's rate limit) and with what credentials
// (bearer, header, or an OAuth access token the shell must first get). The shell keeps the
// bucket and the token between calls; every decision about them is made here.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "attempt_log.h"
#include "callhook/engine.h"
#include "callhook/render.h"
#include "json_writer.h"
#include "oauth.h"
#include "text_util.h"

namespace callhook {

using nlohmann::json;

namespace {

// Floating-point refills land a hair short of a whole token after exactly the wait asked for.
constexpr double kTokenSlack = 1e-9;

// Replaces every header named `name` (any case) by one `name: value`: the destination's auth
// wins over a header of the same name in its config.
void set_header(std::vector<HttpHeader>& headers, std::string_view name, std::string value) {
  std::erase_if(headers, [&](const HttpHeader& h) { return detail::iequals(h.name, name); });
  headers.push_back({std::string(name), std::move(value)});
}

// An access token a shell passes in may only ever be one token_result read: anything that could
// split the header is treated as no token, so a new one is minted.
bool usable_token(std::string_view token) {
  return !token.empty() && std::none_of(token.begin(), token.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

// What names a sealed text that cannot be unsealed, for its log line: whatever of it reads.
AttemptInput labels_of(std::string_view sealed) {
  AttemptInput in;
  in.attempt = 0;  // plan_send is not told the attempt's number
  const json doc = json::parse(sealed.begin(), sealed.end(), nullptr, false);
  if (!doc.is_object()) return in;
  for (const auto& [key, into] : {std::pair<const char*, std::string*>{"route", &in.route},
                                  {"destination", &in.destination},
                                  {"idempotency_key", &in.idempotency_key}}) {
    const auto it = doc.find(key);
    if (it != doc.end() && it->is_string()) *into = it->get<std::string>();
  }
  return in;
}

AttemptInput labels_of(const Delivery& d, std::int64_t now_ms) {
  AttemptInput in;
  in.attempt = 0;
  in.route = d.route;
  in.destination = d.destination;
  in.idempotency_key = d.idempotency_key;
  in.now_ms = now_ms;
  in.answer.kind = AttemptAnswer::Kind::unsendable;  // nothing was sent: the log's status is null
  return in;
}

void write_pace(JsonWriter& w, const PaceState& pace) {
  // A bucket's tokens are fractional; nlohmann/json prints a double the shortest exact way.
  const double tokens = std::isfinite(pace.tokens) ? pace.tokens : -1.0;
  w.begin_object().key("tokens").raw(json(tokens).dump());
  w.key("at_ms").number(pace.at_ms).end_object();
}

}  // namespace

SendPlan Engine::plan_send(std::string_view sealed, std::string_view access_token,
                           const PaceState& pace, std::int64_t now_ms) const {
  SendPlan plan;
  plan.pace = pace;
  Unsealed unsealed = unseal(sealed);
  if (!unsealed.delivery) {
    // As a shell would report it (AttemptAnswer::unsendable): dead at once, with why.
    AttemptInput in = labels_of(sealed);
    in.now_ms = now_ms;
    in.answer.kind = AttemptAnswer::Kind::unsendable;
    in.answer.error = unsealed.error.message;
    plan.verdict = decide_attempt(config_.delivery, nullptr, in);
    plan.verdict.reason = redact(plan.verdict.reason);
    plan.verdict.log = redact(plan.verdict.log);
    return plan;
  }
  Delivery d = std::move(*unsealed.delivery);
  // A destination the config no longer has is sent as it was stored: no credentials, no pace.
  const Destination* dest = config_.destination(d.destination);

  if (d.not_after_ms != 0 && now_ms > d.not_after_ms) {
    std::optional<std::string> late_body =
        dest != nullptr ? body_past_deadline(*dest, d.body) : std::nullopt;
    if (!late_body) {
      // The platform would drop it (or, worse, record it wrongly): no attempt is spent on it.
      AttemptVerdict& v = plan.verdict;
      v.kind = AttemptVerdict::Kind::dead;
      v.code = "deadline_passed";
      const std::string_view why = dest != nullptr ? deadline_reason(dest->format) : "";
      v.reason = std::string(why.empty() ? "the destination no longer accepts it" : why) +
                 "; not sent: its deadline passed " +
                 std::to_string((now_ms - d.not_after_ms) / 1000) + " s before this attempt";
      v.log = redact(detail::verdict_log(labels_of(d, now_ms), v));
      v.reason = redact(v.reason);
      return plan;
    }
    // The destination takes it in another form after the deadline (GA4 without its timestamp),
    // which no longer has one.
    d.body = std::move(*late_body);
    d.not_after_ms = 0;
  }

  PaceState next = pace;
  if (dest != nullptr && dest->rate_limit.per_second > 0) {
    // A token bucket: refilled at per_second since the shell last kept it, up to burst; a bucket
    // never used (or a state that makes no sense) is full.
    const RateLimit& limit = dest->rate_limit;
    const double burst = std::max(1.0, limit.burst);
    double tokens = burst;
    std::int64_t at = now_ms;
    if (std::isfinite(pace.tokens) && pace.tokens >= 0) {
      const std::int64_t elapsed = std::max<std::int64_t>(0, now_ms - pace.at_ms);
      tokens =
          std::min(burst, pace.tokens + limit.per_second * static_cast<double>(elapsed) / 1000.0);
      // Another instance's clock may run ahead: time never goes back for the bucket.
      at = std::max(now_ms, pace.at_ms);
    }
    if (tokens + kTokenSlack < 1.0) {
      plan.kind = SendPlan::Kind::wait;
      plan.wait_ms = std::max<std::int64_t>(
          1, static_cast<std::int64_t>(std::ceil((1.0 - tokens) * 1000.0 / limit.per_second)));
      plan.pace = {tokens, at};
      return plan;
    }
    // Taken only by a send: a token request does not count against the destination.
    next = {std::max(0.0, tokens - 1.0), at};
  }

  if (dest != nullptr) {
    const DestinationAuth& auth = dest->auth;
    switch (auth.kind) {
      case DestinationAuth::Kind::none:
        break;
      case DestinationAuth::Kind::bearer:
        set_header(d.headers, "Authorization", "Bearer " + auth.token);
        break;
      case DestinationAuth::Kind::header:
        set_header(d.headers, auth.header, auth.value);
        break;
      case DestinationAuth::Kind::oauth2:
        if (!usable_token(access_token)) {
          plan.kind = SendPlan::Kind::need_token;
          plan.request = detail::token_request(*dest, d);
          plan.pace = pace;  // untouched: nothing was sent to the destination
          return plan;
        }
        set_header(d.headers, "Authorization", "Bearer " + std::string(access_token));
        break;
    }
  }
  plan.kind = SendPlan::Kind::send;
  plan.request = std::move(d);
  plan.pace = next;
  return plan;
}

void write_send_plan_json(const SendPlan& plan, std::string& out) {
  JsonWriter w(out);
  w.begin_object();
  std::string inner;
  switch (plan.kind) {
    case SendPlan::Kind::send:
      write_delivery_json(plan.request, inner);
      w.key("plan").string("send").key("request").raw(inner).key("pace");
      write_pace(w, plan.pace);
      break;
    case SendPlan::Kind::need_token:
      write_delivery_json(plan.request, inner);
      w.key("plan").string("token").key("request").raw(inner);
      break;
    case SendPlan::Kind::wait:
      w.key("plan").string("wait").key("wait_ms").number(plan.wait_ms).key("pace");
      write_pace(w, plan.pace);
      break;
    case SendPlan::Kind::dead:
      write_attempt_verdict_json(plan.verdict, inner);
      w.key("plan").string("dead").key("verdict").raw(inner);
      break;
  }
  w.end_object();
}

}  // namespace callhook
