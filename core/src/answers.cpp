#include "answers.h"

#include "callhook/front_door.h"

namespace callhook {

Response problem(int status, std::string_view type, std::string_view title, std::string_view detail,
                 const std::vector<Diagnostic>* errors, const std::vector<Diagnostic>* warnings,
                 std::string_view code) {
  Response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/problem+json"});
  JsonWriter w(r.body);
  w.begin_object();
  w.key("type").string(std::string("urn:callhook:problem:") + std::string(type));
  w.key("title").string(title);
  w.key("status").number(status);
  w.key("detail").string(detail);
  if (!code.empty()) w.key("code").string(code);
  if (errors != nullptr) {
    w.key("errors");
    write_diagnostics(w, *errors);
  }
  if (warnings != nullptr) {
    w.key("warnings");
    write_diagnostics(w, *warnings);
  }
  w.end_object();
  return r;
}

namespace detail {

std::string log_line(std::string_view level, std::string_view message, int status,
                     const std::function<void(JsonWriter&)>& more) {
  std::string line;
  JsonWriter w(line);
  w.begin_object().key("level").string(level).key("msg").string(message);
  w.key("status").number(status);
  more(w);
  w.end_object();
  return line;
}

void answer_unauthorized(const AuthResult& auth, bool basic_configured, Outcome& out) {
  out.response = problem(401, "unauthorized", "Authentication failed", auth.message, nullptr,
                         nullptr, auth.code);
  if (basic_configured) {
    out.response.headers.push_back({"WWW-Authenticate", "Basic realm=\"callhook\""});
  }
  out.log =
      log_line("warn", "rejected", 401, [&](JsonWriter& w) { w.key("code").string(auth.code); });
}

void answer_method_not_allowed(std::string_view method, Outcome& out) {
  out.response = refusal(Refusal::method_not_allowed,
                         "Webhooks are received by GET or POST, not " + std::string(method) + ".");
  out.log = log_line("warn", "rejected", 405,
                     [](JsonWriter& w) { w.key("code").string("method_not_allowed"); });
}

void answer_invalid(const Report& report, bool always_200, Outcome& out) {
  int status = 400;
  std::string_view type = "invalid-payload";
  std::string_view title = "The webhook payload is invalid";
  const std::string& first_code = report.errors.front().code;
  if (first_code == "body_too_large") {
    status = 413;
    type = "payload-too-large";
    title = "The webhook payload is too large";
  } else if (first_code == "unsupported_media_type") {
    status = 415;
    type = "unsupported-media-type";
    title = "The webhook's content type is not accepted";
  }
  const std::size_t count = report.errors.size();
  const std::string detail =
      (count == 1 ? std::string("1 problem: ") : std::to_string(count) + " problems; the first: ") +
      report.errors.front().message;
  out.response = problem(status, type, title, detail, &report.errors, &report.warnings);
  if (always_200) {
    // 200 for senders that disable failing endpoints. A problem document must carry the real
    // status (RFC 9457), so the answer is a JSON body that holds the problem instead.
    Response wrapped;
    wrapped.status = 200;
    wrapped.headers.push_back({"Content-Type", "application/json"});
    wrapped.body = "{\"status\":\"rejected\",\"problem\":" + out.response.body + "}";
    out.response = std::move(wrapped);
  }
  out.log = log_line("warn", "rejected", out.response.status, [&](JsonWriter& w) {
    w.key("event");
    if (report.event) {
      w.string(to_string(*report.event));
    } else {
      w.null();
    }
    w.key("codes").begin_array();
    for (const Diagnostic& d : report.errors) w.string(d.code);
    w.end_array();
  });
}

void answer_unreadable_record(const std::string& why, Outcome& out) {
  // A record this engine did not write cannot be trusted to deduplicate: answer 503 so the
  // sender retries once an operator has looked, rather than risk routing twice or losing it.
  out.record.reset();
  out.response = problem(503, "record-unreadable", "The call's stored record cannot be read",
                         "The correlation record for this call is unreadable: " + why + ".");
  out.response.headers.push_back({"Retry-After", "60"});
  out.log = log_line("error", "record_unreadable", 503,
                     [&](JsonWriter& w) { w.key("reason").string(why); });
}

void answer_duplicate(std::string_view event, std::string_view call_sid,
                      std::string_view account_sid, std::int64_t duplicates, Outcome& out) {
  out.response.status = 200;
  out.response.headers.push_back({"Content-Type", "application/json"});
  JsonWriter w(out.response.body);
  w.begin_object().key("status").string("duplicate").key("event").string(event);
  w.key("call_sid").string(call_sid).key("routes").begin_array().end_array();
  w.key("deliveries").number(0).end_object();
  out.log = log_line("info", "duplicate", 200, [&](JsonWriter& lw) {
    lw.key("event").string(event).key("call_sid").string(call_sid);
    lw.key("account_sid").string(account_sid);
    lw.key("duplicates").number(duplicates);
  });
}

void answer_accepted(std::string_view event, std::string_view call_sid,
                     std::string_view account_sid, Outcome& out) {
  Response& r = out.response;
  r.status = 200;
  r.headers.push_back({"Content-Type", "application/json"});
  JsonWriter w(r.body);
  w.begin_object().key("status").string("accepted").key("event").string(event);
  w.key("call_sid").string(call_sid);
  w.key("routes").begin_array();
  for (const RouteDecision& d : out.routes) {
    if (d.matched) w.string(d.name);
  }
  w.end_array();
  w.key("deliveries").number(static_cast<std::int64_t>(out.deliveries.size()));
  w.key("warnings");
  write_diagnostics(w, out.report.warnings);
  w.end_object();

  out.log = log_line("info", "accepted", 200, [&](JsonWriter& lw) {
    lw.key("event").string(event).key("call_sid").string(call_sid);
    lw.key("account_sid").string(account_sid);
    lw.key("auth").string(out.auth_scheme);
    lw.key("routes").begin_array();
    for (const RouteDecision& d : out.routes) {
      if (d.matched) lw.string(d.name);
    }
    lw.end_array();
    lw.key("deliveries").number(static_cast<std::int64_t>(out.deliveries.size()));
    lw.key("warnings").number(static_cast<std::int64_t>(out.report.warnings.size()));
  });
}

}  // namespace detail
}  // namespace callhook
