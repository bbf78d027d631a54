#include "callhook/engine.h"

#include <algorithm>

#include "callhook/auth.h"
#include "callhook/filter.h"
#include "callhook/front_door.h"
#include "callhook/json_writer.h"
#include "callhook/render.h"
#include "text_util.h"

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

namespace {

using nlohmann::json;

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

// The document filters and templates see.
json filter_context(const std::string& canonical, const Inspection& inspection,
                    const Request& request, std::string_view url, const Limits& limits) {
  json context = json::parse(canonical, nullptr, false);
  if (!context.is_object()) context = json::object();
  json fields = json::object();
  for (std::size_t i = 0; i < inspection.fields.size(); ++i) {
    const std::string name(inspection.fields.name(i));
    if (fields.contains(name)) continue;
    fields[name] = std::string(inspection.fields.value(i));
    if (!name.empty() && name[0] >= 'A' && name[0] <= 'Z') context[name] = fields[name];
  }
  context["fields"] = std::move(fields);
  json headers = json::object();
  for (const HttpHeader& h : request.headers) {
    const std::string name = detail::ascii_lower_copy(h.name);
    // Credentials never reach filters or templates, so no template can forward them.
    if (name == "authorization" || name == "proxy-authorization" || name == "cookie") continue;
    if (!headers.contains(name)) headers[name] = h.value;
  }
  context["headers"] = std::move(headers);
  json query = json::object();
  FieldList pairs;
  if (!decode_form(query_of(url), limits, pairs)) {
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      const std::string name(pairs.name(i));
      if (!query.contains(name)) query[name] = std::string(pairs.value(i));
    }
  }
  context["query"] = std::move(query);
  return context;
}

std::string dump_json(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void update_sweep_at(CallRecord& record, const CorrelationConfig& config) {
  record.sweep_at.reset();
  if (record.initiate && !record.complete && !record.abandoned) {
    record.sweep_at = record.initiate->received_at + config.abandon_after_seconds;
  }
}

Outcome unreadable_record(Outcome out, const std::string& why) {
  // A record this engine did not write cannot be trusted to deduplicate: answer 503 so the
  // sender retries once an operator has looked, rather than risk routing twice or losing it.
  out.response = problem(503, "record-unreadable", "The call's stored record cannot be read",
                         "The correlation record for this call is unreadable: " + why + ".");
  out.response.headers.push_back({"Retry-After", "60"});
  out.log = log_line("error", "record_unreadable", 503,
                     [&](JsonWriter& w) { w.key("reason").string(why); });
  return out;
}

}  // namespace

bool Engine::has_routes(Trigger trigger) const {
  for (const Route& route : config_.routes) {
    if (route.on == trigger) return true;
  }
  return false;
}

void Engine::fire(Trigger trigger, const std::string& canonical, const json& context,
                  const std::string& key_prefix, Outcome& out) const {
  for (const Route& route : config_.routes) {
    if (route.on != trigger) continue;
    RouteDecision decision;
    decision.name = route.name;
    decision.matched = route.when.is_null() || filter_matches(route.when, context);
    if (decision.matched) {
      for (const std::string& name : route.to) {
        const Destination* dest = config_.destination(name);
        if (dest == nullptr) continue;  // refused by the config check
        Rendered rendered = render(*dest, canonical, context);
        if (!rendered.skipped.empty()) {
          decision.skipped.push_back(name + ": " + rendered.skipped);
          continue;
        }
        Delivery d;
        d.route = route.name;
        d.destination = name;
        d.method = dest->method;
        d.url = dest->url;
        d.idempotency_key = key_prefix + ":" + route.name;
        d.timeout_ms = dest->delivery.timeout_ms;
        d.headers.push_back({"Content-Type", rendered.content_type});
        d.headers.push_back({"Idempotency-Key", d.idempotency_key});
        for (const HttpHeader& h : dest->headers) d.headers.push_back(h);
        d.body = std::move(rendered.body);
        out.deliveries.push_back(std::move(d));
      }
    }
    out.routes.push_back(std::move(decision));
  }
}

AttemptVerdict Engine::attempt_result(const AttemptInput& attempt) const {
  const Destination* dest = config_.destination(attempt.destination);
  return decide_attempt(dest != nullptr ? dest->delivery : config_.delivery,
                        dest != nullptr ? answer_reader(dest->format) : nullptr, attempt);
}

Outcome Engine::sweep(const std::string& record, std::int64_t now) const {
  Outcome out;
  out.report.slot.fill(-1);
  out.response.status = 0;  // a sweep answers nobody
  std::string why;
  auto current = parse_record(record, why);
  if (!current) {
    out.log = log_line("error", "record_unreadable", 0,
                       [&](JsonWriter& w) { w.key("reason").string(why); });
    return out;
  }
  out.record_key = current->key;
  if (!current->sweep_at || now < *current->sweep_at) return out;  // nothing due
  out.record_expected_version = current->version;
  current->abandoned = true;
  ++current->version;
  current->expires_at = std::max(current->expires_at, now + config_.correlation.retention_seconds);
  update_sweep_at(*current, config_.correlation);
  const json merged = merged_view(*current);
  const std::string call_sid = merged.contains("call") && merged["call"].is_object()
                                   ? merged["call"].value("sid", std::string())
                                   : std::string();
  json context = merged;
  for (const char* part : {"fields", "headers", "query"}) context[part] = json::object();
  fire(Trigger::abandoned, dump_json(merged), context, call_sid + ":abandoned", out);
  out.record = write_record(*current);
  out.record_expires_at = current->expires_at;
  out.log = log_line("info", "abandoned", 0, [&](JsonWriter& w) {
    w.key("call_sid").string(call_sid).key("record_key").string(current->key);
    w.key("deliveries").number(static_cast<std::int64_t>(out.deliveries.size()));
  });
  return out;
}

namespace {}  // namespace

std::optional<Engine> Engine::from_config(std::string_view config_json, const SecretLookup& secrets,
                                          std::vector<Diagnostic>* errors) {
  ConfigResult result = parse_config(config_json, secrets);
  if (errors != nullptr) *errors = std::move(result.errors);
  if (!result.config) return std::nullopt;
  return Engine(std::move(*result.config));
}

Outcome Engine::handle(const Request& request, std::int64_t now,
                       const std::optional<std::string>& record) const {
  Outcome out;
  out.report.slot.fill(-1);
  const AuthResult auth = authenticate(config_.auth, request, now);
  if (!auth.ok) {
    out.response = problem(401, "unauthorized", "Authentication failed", auth.message, nullptr,
                           nullptr, auth.code);
    if (config_.auth.basic) {
      out.response.headers.push_back({"WWW-Authenticate", "Basic realm=\"callhook\""});
    }
    out.log =
        log_line("warn", "rejected", 401, [&](JsonWriter& w) { w.key("code").string(auth.code); });
    return out;
  }
  out.authenticated = true;
  out.auth_scheme = auth.scheme;

  // Only an authenticated sender learns which methods are accepted.
  if (request.method != "GET" && request.method != "POST") {
    out.response = refusal(Refusal::method_not_allowed,
                           "Webhooks are received by GET or POST, not " + request.method + ".");
    out.log = log_line("warn", "rejected", 405,
                       [](JsonWriter& w) { w.key("code").string("method_not_allowed"); });
    return out;
  }

  PayloadSource source;
  source.method = request.method;
  source.url = auth.url;
  source.body = request.body;
  const auto content_type = request.header("Content-Type");
  if (content_type) source.content_type = *content_type;
  Inspection inspection;
  inspect(source, PipelineOptions{config_.mode, config_.limits}, inspection);
  out.report = inspection.report;

  if (!inspection.report.valid) {
    int status = 400;
    std::string_view type = "invalid-payload";
    std::string_view title = "The webhook payload is invalid";
    const std::string& first_code = inspection.report.errors.front().code;
    if (first_code == "body_too_large") {
      status = 413;
      type = "payload-too-large";
      title = "The webhook payload is too large";
    } else if (first_code == "unsupported_media_type") {
      status = 415;
      type = "unsupported-media-type";
      title = "The webhook's content type is not accepted";
    }
    const std::size_t count = inspection.report.errors.size();
    const std::string detail = (count == 1 ? std::string("1 problem: ")
                                           : std::to_string(count) + " problems; the first: ") +
                               inspection.report.errors.front().message;
    out.response = problem(status, type, title, detail, &inspection.report.errors,
                           &inspection.report.warnings);
    if (config_.response.always_200) {
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
      if (inspection.report.event) {
        w.string(to_string(*inspection.report.event));
      } else {
        w.null();
      }
      w.key("codes").begin_array();
      for (const Diagnostic& d : inspection.report.errors) w.string(d.code);
      w.end_array();
    });
    return out;
  }

  write_canonical_json(inspection.fields, inspection.report, out.canonical);
  const std::string call_sid(inspection.fields.find("Call.Sid").value_or(""));
  const std::string account_sid(inspection.fields.find("Account.Sid").value_or(""));
  const EventType event_type = *inspection.report.event;
  const std::string event(to_string(event_type));

  // Correlation: fold this event into the call's record. The new record replaces exactly the
  // version that was read; a shell that loses the compare-and-set calls handle() again with
  // the fresh record, so the decision below is always taken on the latest state.
  std::optional<CallRecord> next;
  bool first_complete = false;
  if (config_.correlation.enabled) {
    const std::string key = record_key(account_sid, call_sid);
    CallRecord current;
    current.key = key;
    if (record) {
      std::string problem_text;
      auto stored = parse_record(*record, problem_text);
      if (stored && stored->key != key) problem_text = "the record belongs to another call";
      if (!stored || stored->key != key) {
        return unreadable_record(std::move(out), problem_text);
      }
      current = std::move(*stored);
    }
    out.record_expected_version = current.version;
    std::optional<SeenEvent>& slot =
        event_type == EventType::initiate ? current.initiate : current.complete;
    if (slot) {
      out.duplicate = true;
      ++current.duplicates;
    } else {
      slot = SeenEvent{now, out.canonical};
      first_complete = event_type == EventType::complete;
    }
    ++current.version;
    current.expires_at = now + config_.correlation.retention_seconds;
    update_sweep_at(current, config_.correlation);
    out.record_key = key;
    out.record_expires_at = current.expires_at;
    out.record = write_record(current);
    next = std::move(current);
  }

  if (out.duplicate) {
    out.response.status = 200;
    out.response.headers.push_back({"Content-Type", "application/json"});
    JsonWriter w(out.response.body);
    w.begin_object().key("status").string("duplicate").key("event").string(event);
    w.key("call_sid").string(call_sid).key("routes").begin_array().end_array();
    w.key("deliveries").number(0).end_object();
    out.log = log_line("info", "duplicate", 200, [&](JsonWriter& lw) {
      lw.key("event").string(event).key("call_sid").string(call_sid);
      lw.key("account_sid").string(account_sid);
      lw.key("duplicates").number(next->duplicates);
    });
    return out;
  }

  // The documents filters and templates see are built only when some route will look at them.
  const bool event_routes = has_routes(Trigger::event);
  const bool complete_routes = first_complete && has_routes(Trigger::complete);
  json context;
  json merged;
  if (event_routes || complete_routes) {
    context = filter_context(out.canonical, inspection, request, auth.url, config_.limits);
    if (next) {
      merged = merged_view(*next);
      context["correlation"] = merged["correlation"];
    }
  }
  if (event_routes) fire(Trigger::event, out.canonical, context, call_sid + ":" + event, out);
  if (complete_routes) {
    // The call is complete: `complete` routes see the merged call, once.
    json call_context = merged;
    for (const char* part : {"fields", "headers", "query"}) call_context[part] = context[part];
    for (const auto& [name, value] : context["fields"].items()) call_context[name] = value;
    fire(Trigger::complete, dump_json(merged), call_context, call_sid + ":complete", out);
  }

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
  write_diagnostics(w, inspection.report.warnings);
  w.end_object();

  out.log = log_line("info", "accepted", 200, [&](JsonWriter& lw) {
    lw.key("event").string(event).key("call_sid").string(call_sid);
    lw.key("account_sid").string(account_sid);
    lw.key("auth").string(auth.scheme);
    lw.key("routes").begin_array();
    for (const RouteDecision& d : out.routes) {
      if (d.matched) lw.string(d.name);
    }
    lw.end_array();
    lw.key("deliveries").number(static_cast<std::int64_t>(out.deliveries.size()));
    lw.key("warnings").number(static_cast<std::int64_t>(inspection.report.warnings.size()));
  });
  return out;
}

namespace {

void write_headers(JsonWriter& w, const std::vector<HttpHeader>& headers) {
  w.begin_array();
  for (const HttpHeader& h : headers) w.begin_array().string(h.name).string(h.value).end_array();
  w.end_array();
}

}  // namespace

void write_outcome_json(const Outcome& outcome, std::string& out, OutcomeStyle style) {
  const bool js = style == OutcomeStyle::javascript;
  JsonWriter w(out);
  w.begin_object();
  w.key("response").begin_object();
  w.key("status").number(outcome.response.status);
  w.key("headers");
  write_headers(w, outcome.response.headers);
  w.key("body").string(outcome.response.body);
  w.end_object();
  w.key("deliveries").begin_array();
  for (const Delivery& d : outcome.deliveries) {
    w.begin_object();
    w.key("route").string(d.route).key("destination").string(d.destination);
    w.key("method").string(d.method).key("url").string(d.url);
    w.key("headers");
    write_headers(w, d.headers);
    w.key("body").string(d.body).key("idempotency_key").string(d.idempotency_key);
    w.key("timeout_ms").number(d.timeout_ms);
    w.end_object();
  }
  w.end_array();
  w.key("routes").begin_array();
  for (const RouteDecision& r : outcome.routes) {
    w.begin_object().key("name").string(r.name).key("matched").boolean(r.matched);
    w.key("skipped").begin_array();
    for (const std::string& s : r.skipped) w.string(s);
    w.end_array().end_object();
  }
  w.end_array();
  w.key("authenticated").boolean(outcome.authenticated);
  if (js) {
    w.key("authScheme");
    if (outcome.auth_scheme.empty()) {
      w.null();
    } else {
      w.string(outcome.auth_scheme);
    }
  }
  std::string verdict;
  write_report_json(outcome.report, verdict);
  w.key("verdict").raw(verdict);
  w.key("event");
  if (outcome.canonical.empty()) {
    w.null();
  } else {
    w.raw(outcome.canonical);
  }
  w.key("duplicate").boolean(outcome.duplicate);
  if (js) {
    // A string, so a store saves the record byte for byte; the keys beside it in camelCase.
    if (outcome.record) {
      w.key("record").string(*outcome.record);
      w.key("recordKey").string(outcome.record_key);
      w.key("expectedVersion").number(outcome.record_expected_version);
      w.key("expiresAt").number(outcome.record_expires_at);
    } else {
      w.key("record").null().key("recordKey").null();
      w.key("expectedVersion").null().key("expiresAt").null();
    }
  } else {
    w.key("record");
    if (outcome.record) {
      w.raw(*outcome.record);
      w.key("record_key").string(outcome.record_key);
      w.key("expected_version").number(outcome.record_expected_version);
      w.key("expires_at").number(outcome.record_expires_at);
    } else {
      w.null();
    }
  }
  w.key("log");
  if (outcome.log.empty()) {
    w.null();
  } else {
    w.raw(outcome.log);
  }
  w.end_object();
}

}  // namespace callhook
