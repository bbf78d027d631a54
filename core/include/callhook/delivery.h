// The delivery lifecycle: after a shell sent a delivery and saw what the destination answered
// (or how the transport failed), the core decides what happens next: delivered, retry at a time,
// or dead with a reason. Shells hold no retry arithmetic; they store the decision and act on it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "callhook/http.h"

namespace callhook {

/// How one destination's deliveries are retried (config: `delivery`, and per destination
/// `destinations.NAME.delivery`, which overrides it setting by setting).
struct RetryPolicy {
  /// Attempts in all, the first included.
  int attempts = 12;
  /// The wait after failed attempt n (n = 1, 2, ...) is schedule[n-1]; past its end the last
  /// entry repeats. The default spans about 40 hours, so a destination down for a day still
  /// gets every webhook.
  std::vector<std::int64_t> schedule_ms = {10'000,     30'000,     120'000,   600'000,
                                           1'800'000,  3'600'000,  7'200'000, 14'400'000,
                                           28'800'000, 43'200'000, 43'200'000};
  /// Each wait is scaled by a factor drawn uniformly from [1 - jitter, 1 + jitter).
  double jitter = 0.2;
  /// Statuses worth another attempt; every other non-2xx answer is final.
  std::vector<int> retry_statuses = {408, 409, 425, 429};
  bool retry_5xx = true;
  /// Honour Retry-After (delta seconds or an HTTP date) on a retryable answer, up to this wait.
  bool honour_retry_after = true;
  std::int64_t max_retry_after_ms = 43'200'000;
  /// One attempt's limit; a shell aborts the request after this and reports a timeout.
  std::int64_t timeout_ms = 30'000;

  [[nodiscard]] bool retryable(int status) const;
  /// The wait after failed attempt `attempt` before jitter.
  [[nodiscard]] std::int64_t scheduled_wait_ms(int attempt) const;
};

/// What happened to one attempt, as the shell saw it.
struct AttemptAnswer {
  /// `redirect`: a redirect whose status the runtime hides (a browser's opaque redirect).
  /// `unsendable`: the shell could not even build the request (its stored delivery cannot be
  /// unsealed: Engine::unseal); `error` says why. Never retried.
  enum class Kind { answered, timeout, transport_error, redirect, unsendable };
  Kind kind = Kind::answered;
  int status = 0;                   // when answered
  std::vector<HttpHeader> headers;  // when answered
  std::string body;                 // when answered: what the shell read of it (may be cut)
  std::string error;  // transport error, or why unsendable, in words (no URL: it may hold secrets)
};

/// One finished attempt as a shell reports it: which delivery, its number, what came back, the
/// time and the shell's random number.
struct AttemptInput {
  std::string route;
  std::string destination;
  std::string idempotency_key;
  int attempt = 1;  // 1 for the first
  AttemptAnswer answer;
  std::int64_t now_ms = 0;
  double random = 0.5;  // in [0, 1)
  /// The delivery's deadline (Delivery::not_after_ms; 0: none): a retry that could only come
  /// after it is dead now, with the format's reason.
  std::int64_t not_after_ms = 0;
  /// The OAuth access token this attempt carried was minted for it (not taken from a cache): a
  /// 401 then means the credentials themselves are refused, not that a cached token went stale.
  bool fresh_token = false;
};

/// Reads an attempt written as JSON, as every binding passes it:
/// {"route", "destination", "idempotency_key", "attempt", "now_ms", "random",
///  "not_after_ms" (optional, 0: no deadline), "fresh_token" (optional, false),
///  "answer": {"status", "headers": {..} or [[name, value], ..], "body"}
///          | {"timeout": true} | {"error": "what the transport said"}
///          | {"redirect": true} (a redirect whose status the runtime hides)
///          | {"unsendable": "why the delivery could not even be sent"}}.
/// nullopt, with `problem` in words, when it is not of that form.
[[nodiscard]] std::optional<AttemptInput> parse_attempt_json(std::string_view text,
                                                             std::string& problem);

/// The core's decision after an attempt.
struct AttemptVerdict {
  enum class Kind { delivered, retry, dead };
  Kind kind = Kind::dead;
  /// Stable: `delivered`, `already_recorded` (the platform had it: a duplicate order id);
  /// `retryable_status`, `timeout`, `transport_error`, `platform_retry` (the platform's answer
  /// asks for a later attempt, e.g. Google Ads' TOO_RECENT_EVENT), `token_rejected` (a cached
  /// access token was refused: retried at once with a fresh one), `token_unavailable` (the token
  /// endpoint failed for now) (retry); `not_retryable_status`, `redirect`, `attempts_exhausted`,
  /// `rejected` (the platform refused it, e.g. a Google Ads row error or a Meta error),
  /// `unsendable`, `deadline_passed` (the platform no longer accepts it: GA4 after 72 hours,
  /// Meta after 7 days), `token_refused` (the token endpoint refused the credentials) (dead).
  std::string code;
  std::string reason;            // for people: what the destination said, why this verdict
  std::int64_t retry_at_ms = 0;  // when kind is retry: the earliest time of the next attempt
  std::int64_t delay_ms = 0;     // retry_at_ms - now
  bool retry_after = false;      // the wait came from the destination's Retry-After
  /// The shell must forget its cached access token for this destination (it was refused).
  bool drop_token = false;
  std::string log;  // one JSON log line; no URL, no secrets
};

[[nodiscard]] std::string_view to_string(AttemptVerdict::Kind kind);

/// A Retry-After value as milliseconds to wait from `now_ms`: delta seconds, or an HTTP date
/// (IMF-fixdate, or the obsolete RFC 850 and asctime forms RFC 9110 says to accept). A date in
/// the past waits 0; anything else is nullopt.
[[nodiscard]] std::optional<std::int64_t> parse_retry_after(std::string_view value,
                                                            std::int64_t now_ms);

/// An HTTP date as seconds since the Unix epoch, or nullopt.
[[nodiscard]] std::optional<std::int64_t> parse_http_date(std::string_view text);

/// What a destination's format reads in an answer, before its HTTP status is judged by the
/// retry policy: Google Ads rejects rows inside a 200 and asks for a retry after 6 hours with
/// TOO_RECENT_EVENT; Meta signals throttling inside a 400.
struct FormatVerdict {
  AttemptVerdict::Kind kind = AttemptVerdict::Kind::dead;
  /// `delivered` or `already_recorded` (delivered); `platform_retry` (retry); `rejected` (dead).
  std::string code;
  /// For people: the platform's own code and message, e.g. "Google Ads EXPIRED_EVENT: ...".
  std::string reason;
  /// retry: the wait the platform asks for (6 hours for TOO_RECENT_EVENT, a quota's
  /// retryDelay); -1 for the retry policy's schedule.
  std::int64_t retry_in_ms = -1;
  /// The platform says the access token expired or is invalid (refresh it, then retry once).
  bool token_expired = false;
};

/// A format's reader of answers: nullopt when the answer says nothing beyond its status (the
/// retry policy then decides as for any destination).
using AnswerReader = std::optional<FormatVerdict> (*)(const AttemptAnswer& answer);

/// Decides what follows an attempt of a delivery, given what the destination answered, the time,
/// and the shell's random number (the jitter's source). `read_answer` is the format's reader
/// (nullptr: the status alone decides). `oauth` says the destination's credentials are OAuth
/// access tokens (a 401 on a cached token is then retried at once with a fresh one).
/// `deadline_reason` begins the reason of a retry that would come after `input.not_after_ms`
/// (dead `deadline_passed`). The delivery's names only label the log line.
[[nodiscard]] AttemptVerdict decide_attempt(const RetryPolicy& policy, AnswerReader read_answer,
                                            const AttemptInput& input, bool oauth = false,
                                            std::string_view deadline_reason = {});

/// Serialises a verdict as JSON (`verdict`, `code`, `reason`, `retry_at_ms`, `delay_ms`,
/// `retry_after`, `drop_token`, `log`), spelt the same for every binding.
void write_attempt_verdict_json(const AttemptVerdict& verdict, std::string& out);

}  // namespace callhook
