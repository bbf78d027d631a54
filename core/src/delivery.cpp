#include "callhook/delivery.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

#include "attempt_log.h"
#include "json_writer.h"
#include "text_util.h"
#include "value_formats.h"

namespace callhook {
namespace {

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};

// A cursor over an HTTP date: each step consumes exactly what the grammar says or fails.
class DateScanner {
 public:
  explicit DateScanner(std::string_view text) : text_(text) {}

  bool literal(std::string_view s) {
    if (text_.substr(at_).substr(0, s.size()) != s) return false;
    at_ += s.size();
    return true;
  }
  // Exactly `n` digits.
  bool digits(std::size_t n, int& out) {
    if (at_ + n > text_.size()) return false;
    const auto v = parse_decimal(text_.substr(at_, n), n);
    if (!v) return false;
    out = static_cast<int>(*v);
    at_ += n;
    return true;
  }
  bool one_of(const auto& names, int& index) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (literal(names[i])) {
        index = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }
  // HH:MM:SS
  bool time(int& h, int& m, int& s) {
    return digits(2, h) && literal(":") && digits(2, m) && literal(":") && digits(2, s);
  }
  [[nodiscard]] bool done() const { return at_ == text_.size(); }

 private:
  std::string_view text_;
  std::size_t at_ = 0;
};

std::optional<std::int64_t> to_epoch(int year, int month, int day, int h, int m, int s) {
  if (month < 0 || month > 11 || day < 1 || h > 23 || m > 59 || s > 60) return std::nullopt;
  static constexpr std::array<int, 12> kLength = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kLength[static_cast<std::size_t>(month)] || (month == 1 && day == 29 && !leap)) {
    return std::nullopt;
  }
  const std::int64_t days =
      detail::days_from_civil(year, static_cast<unsigned>(month + 1), static_cast<unsigned>(day));
  return days * 86400 + h * 3600 + m * 60 + std::min(s, 59);
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

std::optional<std::string_view> header_value(const std::vector<HttpHeader>& headers,
                                             std::string_view name) {
  for (const HttpHeader& h : headers) {
    if (detail::iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

}  // namespace

bool RetryPolicy::retryable(int status) const {
  if (status >= 500 && status <= 599) return retry_5xx;
  return std::find(retry_statuses.begin(), retry_statuses.end(), status) != retry_statuses.end();
}

std::int64_t RetryPolicy::scheduled_wait_ms(int attempt) const {
  if (schedule_ms.empty()) return 0;
  const auto i = static_cast<std::size_t>(std::max(attempt, 1) - 1);
  return schedule_ms[std::min(i, schedule_ms.size() - 1)];
}

std::string_view to_string(AttemptVerdict::Kind kind) {
  switch (kind) {
    case AttemptVerdict::Kind::delivered:
      return "delivered";
    case AttemptVerdict::Kind::retry:
      return "retry";
    case AttemptVerdict::Kind::dead:
      return "dead";
  }
  return "dead";
}

std::optional<std::int64_t> parse_http_date(std::string_view text) {
  text = trim(text);
  int wday = 0, day = 0, month = 0, year = 0, h = 0, m = 0, s = 0;
  {  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    DateScanner d(text);
    if (d.one_of(kDays, wday) && d.literal(", ") && d.digits(2, day) && d.literal(" ") &&
        d.one_of(kMonths, month) && d.literal(" ") && d.digits(4, year) && d.literal(" ") &&
        d.time(h, m, s) && d.literal(" GMT") && d.done()) {
      return to_epoch(year, month, day, h, m, s);
    }
  }
  {  // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (a two-digit year is the nearest past century's)
    DateScanner d(text);
    if (d.one_of(kLongDays, wday) && d.literal(", ") && d.digits(2, day) && d.literal("-") &&
        d.one_of(kMonths, month) && d.literal("-") && d.digits(2, year) && d.literal(" ") &&
        d.time(h, m, s) && d.literal(" GMT") && d.done()) {
      return to_epoch(year < 70 ? 2000 + year : 1900 + year, month, day, h, m, s);
    }
  }
  {  // asctime: Sun Nov  6 08:49:37 1994
    DateScanner d(text);
    if (d.one_of(kDays, wday) && d.literal(" ") && d.one_of(kMonths, month) && d.literal(" ") &&
        (d.literal(" ") ? d.digits(1, day) : d.digits(2, day)) && d.literal(" ") &&
        d.time(h, m, s) && d.literal(" ") && d.digits(4, year) && d.done()) {
      return to_epoch(year, month, day, h, m, s);
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> parse_retry_after(std::string_view value, std::int64_t now_ms) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (const auto seconds = parse_decimal(value, 12)) return *seconds * 1000;
  if (const auto at = parse_http_date(value)) return std::max<std::int64_t>(0, *at * 1000 - now_ms);
  return std::nullopt;
}

namespace detail {

std::string clip(std::string_view text, std::size_t max) {
  std::size_t cut = std::min(max, text.size());
  // Never half a UTF-8 character: the reason goes into JSON text.
  while (cut > 0 && cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  std::string out;
  for (const char c : text.substr(0, cut)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  if (text.size() > cut) out += "...";
  return out;
}

std::string verdict_log(const AttemptInput& input, const AttemptVerdict& v, LogSubject subject) {
  using Kind = AttemptVerdict::Kind;
  const bool token = subject == LogSubject::token;
  std::string line;
  JsonWriter w(line);
  w.begin_object();
  w.key("level").string(v.kind == Kind::delivered ? "info"
                        : v.kind == Kind::retry   ? "warn"
                                                  : "error");
  w.key("msg").string(v.kind == Kind::delivered ? "delivered"
                      : v.kind == Kind::retry   ? (token ? "token_retry" : "delivery_retry")
                                                : (token ? "token_dead" : "delivery_dead"));
  w.key("route").string(input.route).key("destination").string(input.destination);
  w.key("idempotency_key").string(input.idempotency_key).key("attempt");
  if (input.attempt > 0) {
    w.number(input.attempt);
  } else {
    w.null();  // Engine::plan_send decides before an attempt has a number
  }
  w.key("status");
  if (input.answer.kind == AttemptAnswer::Kind::answered) {
    w.number(input.answer.status);
  } else {
    w.null();
  }
  w.key("code").string(v.code).key("reason").string(v.reason);
  if (v.kind == Kind::retry) w.key("retry_in_ms").number(v.delay_ms);
  if (v.drop_token) w.key("drop_token").boolean(true);
  w.end_object();
  return line;
}

}  // namespace detail

AttemptVerdict decide_attempt(const RetryPolicy& policy, AnswerReader read_answer,
                              const AttemptInput& input, bool oauth,
                              std::string_view deadline_reason) {
  using Kind = AttemptVerdict::Kind;
  using detail::clip;
  const AttemptAnswer& answer = input.answer;
  const int attempt = input.attempt;
  const std::int64_t now_ms = input.now_ms;
  const double random = input.random;
  AttemptVerdict v;
  const bool answered = answer.kind == AttemptAnswer::Kind::answered;
  const std::string status = "HTTP " + std::to_string(answer.status);
  bool worth_retrying = false;
  bool at_once = false;                       // retry with no wait (a fresh access token)
  std::optional<std::int64_t> asked_wait;     // the destination's Retry-After
  std::optional<std::int64_t> platform_wait;  // what the platform's answer itself asks

  // The format reads every answer before its status is judged: platforms say things a status
  // cannot (rows refused inside a 200, throttling inside a 400, an expired token).
  const std::optional<FormatVerdict> format =
      answered && read_answer != nullptr ? read_answer(answer) : std::nullopt;
  // An OAuth destination's plain 401 means its token was refused, as the format's own reading
  // does; a 401 the format reads as something else (a retry, a delivery) is left to it.
  const bool token_refused =
      answered && ((format && format->token_expired) ||
                   (oauth && answer.status == 401 && (!format || format->kind == Kind::dead)));

  if (answer.kind == AttemptAnswer::Kind::unsendable) {
    // Nothing was sent, and sending again cannot help: the stored delivery itself is unusable
    // (it names a secret the config no longer has, or it is not a sealed delivery).
    v.code = "unsendable";
    v.reason = "not sent: " +
               clip(answer.error.empty() ? "the delivery cannot be sent" : answer.error, 400);
  } else if (token_refused) {
    // The shell forgets the token either way. A cached one may just have gone stale (revoked,
    // rotated, expired early), so one more attempt at once with a freshly minted token tells
    // that apart from credentials that are refused outright, which no retry mends.
    v.drop_token = true;
    const std::string said =
        format && !format->reason.empty() ? status + ": " + clip(format->reason, 400) : status;
    if (!input.fresh_token) {
      worth_retrying = true;
      at_once = true;
      v.code = "token_rejected";
      v.reason = said + "; the cached access token was refused: retried at once with a fresh one";
    } else {
      v.code = format ? "rejected" : "not_retryable_status";
      v.reason = said + "; a freshly minted access token was refused";
    }
  } else if (format) {
    const std::string said = format->reason.empty() ? status : clip(format->reason, 400);
    switch (format->kind) {
      case Kind::delivered:
        v.kind = Kind::delivered;
        v.code = format->code.empty() ? "delivered" : format->code;
        v.reason = format->reason.empty() ? status : status + ": " + said;
        break;
      case Kind::retry:
        worth_retrying = true;
        v.code = format->code.empty() ? "platform_retry" : format->code;
        v.reason = format->reason.empty() ? status : status + ": " + said;
        // The platform knows when it will take the event (Google Ads' TOO_RECENT_EVENT: hours):
        // its ask stands, uncapped by max_retry_after, still bounded by the attempts.
        if (format->retry_in_ms >= 0) {
          platform_wait = format->retry_in_ms;
        } else if (policy.honour_retry_after) {
          if (const auto ra = header_value(answer.headers, "Retry-After")) {
            asked_wait = parse_retry_after(*ra, now_ms);
          }
        }
        break;
      case Kind::dead:
        v.code = format->code.empty() ? "rejected" : format->code;
        v.reason = answer.status >= 200 && answer.status <= 299 ? status + " but rejected: " + said
                                                                : status + ": " + said;
        break;
    }
  } else if (answered && answer.status >= 200 && answer.status <= 299) {
    v.kind = Kind::delivered;
    v.code = "delivered";
    v.reason = status;
  } else if ((answered && answer.status >= 300 && answer.status <= 399) ||
             answer.kind == AttemptAnswer::Kind::redirect) {
    // Redirects are not followed: a webhook POST turned into a GET would "succeed" without its
    // body. The destination's final URL belongs in the config.
    v.code = "redirect";
    v.reason = answered ? status + ": redirects are not followed"
                        : "a redirect: redirects are not followed";
    if (header_value(answer.headers, "Location")) v.reason += "; configure the final URL";
  } else if (answered) {
    worth_retrying = policy.retryable(answer.status);
    v.code = worth_retrying ? "retryable_status" : "not_retryable_status";
    v.reason = worth_retrying ? status : status + ", which is not retried";
    if (worth_retrying && policy.honour_retry_after) {
      if (const auto ra = header_value(answer.headers, "Retry-After")) {
        asked_wait = parse_retry_after(*ra, now_ms);
      }
    }
  } else {
    worth_retrying = true;
    const bool timeout = answer.kind == AttemptAnswer::Kind::timeout;
    v.code = timeout ? "timeout" : "transport_error";
    v.reason = timeout
                   ? "no answer within " + std::to_string(policy.timeout_ms) + " ms"
                   : "transport error: " + clip(answer.error.empty() ? "unknown" : answer.error);
  }

  if (worth_retrying) {
    if (attempt >= policy.attempts) {
      v.kind = Kind::dead;
      v.reason = "gave up after " + std::to_string(attempt) + " attempts; the last: " + v.reason;
      v.code = "attempts_exhausted";
    } else {
      v.kind = Kind::retry;
      std::int64_t wait = 0;
      if (at_once) {
        wait = 0;
      } else if (platform_wait) {
        wait = *platform_wait;
      } else if (asked_wait) {
        wait = std::min(*asked_wait, policy.max_retry_after_ms);
        v.retry_after = true;
      } else {
        const double r = std::isfinite(random) ? std::clamp(random, 0.0, 1.0) : 0.5;
        const double factor = 1.0 + policy.jitter * (2.0 * r - 1.0);
        wait = static_cast<std::int64_t>(
            std::llround(static_cast<double>(policy.scheduled_wait_ms(attempt)) * factor));
      }
      v.delay_ms = std::max<std::int64_t>(0, wait);
      v.retry_at_ms = now_ms + v.delay_ms;
    }
  } else if (v.kind != Kind::delivered) {
    v.kind = Kind::dead;
  }

  // A retry the platform would refuse anyway (GA4 drops events older than 72 hours) is dead now,
  // while the reason for the failure is still at hand, rather than one pointless attempt later.
  if (v.kind == Kind::retry && input.not_after_ms != 0 && v.retry_at_ms > input.not_after_ms) {
    v.kind = Kind::dead;
    v.code = "deadline_passed";
    v.reason = std::string(deadline_reason.empty() ? "the destination no longer accepts it"
                                                   : deadline_reason) +
               "; the last attempt: " + v.reason;
    v.retry_at_ms = 0;
    v.delay_ms = 0;
    v.retry_after = false;
  }

  v.log = detail::verdict_log(input, v);
  return v;
}

std::optional<AttemptInput> parse_attempt_json(std::string_view text, std::string& problem) {
  using nlohmann::json;
  const json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    problem = "the attempt must be a JSON object";
    return std::nullopt;
  }
  AttemptInput in;
  const auto text_of = [&](const char* key, std::string& into) {
    const auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) return true;
    if (!it->is_string()) {
      problem = std::string(key) + " must be a string";
      return false;
    }
    into = it->get<std::string>();
    return true;
  };
  if (!text_of("route", in.route) || !text_of("destination", in.destination) ||
      !text_of("idempotency_key", in.idempotency_key)) {
    return std::nullopt;
  }
  if (const auto it = doc.find("attempt"); it != doc.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 1 ||
        it->get<std::int64_t>() > 1'000'000) {
      problem = "attempt must be a whole number from 1 (the first attempt)";
      return std::nullopt;
    }
    in.attempt = static_cast<int>(it->get<std::int64_t>());
  }
  if (const auto it = doc.find("now_ms"); it != doc.end()) {
    if (!it->is_number() || it->get<double>() < 0) {
      problem = "now_ms must be milliseconds since the Unix epoch";
      return std::nullopt;
    }
    in.now_ms = static_cast<std::int64_t>(it->get<double>());
  }
  if (const auto it = doc.find("random"); it != doc.end()) {
    if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 1) {
      problem = "random must be a number in [0, 1)";
      return std::nullopt;
    }
    in.random = it->get<double>();
  }
  if (const auto it = doc.find("not_after_ms"); it != doc.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() < 0) {
      problem = "not_after_ms must be milliseconds since the Unix epoch (0: no deadline)";
      return std::nullopt;
    }
    in.not_after_ms = static_cast<std::int64_t>(it->get<double>());
  }
  if (const auto it = doc.find("fresh_token"); it != doc.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      problem = "fresh_token must be true or false";
      return std::nullopt;
    }
    in.fresh_token = it->get<bool>();
  }
  const auto a = doc.find("answer");
  if (a == doc.end() || !a->is_object()) {
    problem = "answer must be {status, headers, body}, {timeout: true}, {error} or {unsendable}";
    return std::nullopt;
  }
  if (const auto t = a->find("timeout"); t != a->end() && t->is_boolean() && t->get<bool>()) {
    in.answer.kind = AttemptAnswer::Kind::timeout;
  } else if (const auto r = a->find("redirect");
             r != a->end() && r->is_boolean() && r->get<bool>()) {
    in.answer.kind = AttemptAnswer::Kind::redirect;
  } else if (const auto u = a->find("unsendable"); u != a->end() && !u->is_null()) {
    in.answer.kind = AttemptAnswer::Kind::unsendable;
    in.answer.error = u->is_string() ? u->get<std::string>() : u->dump();
  } else if (const auto e = a->find("error"); e != a->end() && !e->is_null()) {
    in.answer.kind = AttemptAnswer::Kind::transport_error;
    in.answer.error = e->is_string() ? e->get<std::string>() : e->dump();
  } else {
    const auto st = a->find("status");
    if (st == a->end() || !st->is_number_integer() || st->get<std::int64_t>() < 100 ||
        st->get<std::int64_t>() > 999) {
      problem = "answer.status must be an HTTP status (100 to 999)";
      return std::nullopt;
    }
    in.answer.status = static_cast<int>(st->get<std::int64_t>());
    if (const auto h = a->find("headers"); h != a->end() && !h->is_null()) {
      if (h->is_object()) {
        for (const auto& [name, value] : h->items()) {
          if (value.is_string()) in.answer.headers.push_back({name, value.get<std::string>()});
        }
      } else if (h->is_array()) {
        for (const json& pair : *h) {
          if (pair.is_array() && pair.size() == 2 && pair[0].is_string() && pair[1].is_string()) {
            in.answer.headers.push_back({pair[0].get<std::string>(), pair[1].get<std::string>()});
          }
        }
      } else {
        problem = "answer.headers must be an object or [[name, value], ...]";
        return std::nullopt;
      }
    }
    if (const auto b = a->find("body"); b != a->end() && b->is_string()) {
      in.answer.body = b->get<std::string>();
    }
  }
  return in;
}

void write_attempt_verdict_json(const AttemptVerdict& v, std::string& out) {
  JsonWriter w(out);
  w.begin_object();
  w.key("verdict").string(to_string(v.kind)).key("code").string(v.code);
  w.key("reason").string(v.reason);
  w.key("retry_at_ms");
  if (v.kind == AttemptVerdict::Kind::retry) {
    w.number(v.retry_at_ms);
  } else {
    w.null();
  }
  w.key("delay_ms");
  if (v.kind == AttemptVerdict::Kind::retry) {
    w.number(v.delay_ms);
  } else {
    w.null();
  }
  w.key("retry_after").boolean(v.retry_after);
  w.key("drop_token").boolean(v.drop_token);
  w.key("log").raw(v.log);
  w.end_object();
}

}  // namespace callhook
