// The engine: prepare (authenticate, check the method, decode, validate, normalize) then decide
// (correlate, route, render, answer). Each stage is a unit of its own: auth.cpp, pipeline.cpp,
// correlate.cpp (the record's state machine), routing.cpp (route firing), answers.cpp (what the
// sender is answered and what is logged), delivery.cpp (what follows a delivery attempt).
#include "callhook/engine.h"

#include <algorithm>

#include "answers.h"
#include "callhook/auth.h"
#include "callhook/front_door.h"
#include "callhook/render.h"
#include "compact_json.h"
#include "correlation_view.h"
#include "json_writer.h"
#include "oauth.h"
#include "routing.h"
#include "sealed_delivery.h"
#include "text_util.h"

namespace callhook {

using nlohmann::json;

namespace {

// Headers as filters and templates see them: lower-case names, the first of each, and never a
// credential, so no template can forward one.
void filterable_headers(const std::vector<HttpHeader>& headers, FieldList& out) {
  for (const HttpHeader& h : headers) {
    const std::string name = detail::ascii_lower_copy(h.name);
    if (name == "authorization" || name == "proxy-authorization" || name == "cookie") continue;
    out.add(name, h.value);
  }
}

// The source a request's path names (/hook/NAME/...), and the path's word for which webhook it
// is (a later segment that is one of the sender's words, sender_path_events); none: the
// config's own Voice Webhooks endpoint.
struct SourceOfPath {
  const Source* source = nullptr;
  std::string_view path_event;
};

SourceOfPath source_of(const Config& config, std::string_view url) {
  SourceOfPath found;
  if (config.sources.empty()) return found;
  std::string_view path = target_path(url).value_or("");
  if (!path.starts_with("/hook/")) return found;
  path.remove_prefix(6);
  const std::size_t end = path.find('/');
  found.source = config.source(path.substr(0, end));
  if (found.source == nullptr || end == std::string_view::npos) return found;
  std::string_view rest = path.substr(end + 1);
  const auto words = sender_path_events(found.source->reading.sender);
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    for (const auto& entry : words) {
      if (entry.first == segment) found.path_event = segment;
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return found;
}

void set_record(Outcome& out, const CallRecord& record, std::int64_t expected_version) {
  out.record = write_record(record);
  out.record_key = record.key;
  out.record_expected_version = expected_version;
  out.record_version = record.version;
  out.record_expires_at = record.expires_at;
  out.record_sweep_at = record.sweep_at;
}

}  // namespace

std::optional<Engine> Engine::from_config(std::string_view config_json, const SecretLookup& secrets,
                                          std::vector<Diagnostic>* errors) {
  ConfigResult result = parse_config(config_json, secrets);
  if (errors != nullptr) *errors = std::move(result.errors);
  if (!result.config) return std::nullopt;
  compile_templates(*result.config);  // read once here, not on every render
  return Engine(std::move(*result.config));
}

std::optional<Engine> Engine::bind(UnboundConfig config, const SecretLookup& secrets) {
  std::optional<Config> bound = bind_config(std::move(config), secrets);
  if (!bound) return std::nullopt;
  compile_templates(*bound);  // nothing to do when parse_config_unbound read them already
  return Engine(std::move(*bound));
}

Outcome Engine::handle(const Request& request, std::int64_t now,
                       const std::optional<std::string>& record) const {
  return decide(prepare(request, now), now, record);
}

// The log line leaves the core without secret values or caller numbers, whatever a sender put
// in the fields it quotes (the Call.Sid, say): shells write it as it is.
Prepared Engine::prepare(const Request& request, std::int64_t now) const {
  Prepared p = prepare_request(request, now);
  if (p.finished_) p.answer_.log = redact(p.answer_.log);
  return p;
}

Outcome Engine::decide(const Prepared& p, std::int64_t now,
                       const std::optional<std::string>& record) const {
  if (p.finished_) return p.answer_;
  Outcome out = decide_request(p, now, record);
  out.log = redact(out.log);
  return out;
}

Prepared Engine::prepare_request(const Request& request, std::int64_t now) const {
  Prepared p;
  Outcome& out = p.answer_;
  out.report.slot.fill(-1);
  p.finished_ = true;  // until the payload proves good

  const SourceOfPath from = source_of(config_, request.url);
  const AuthConfig& auth_config = from.source != nullptr ? from.source->auth : config_.auth;
  const AuthResult auth = authenticate(auth_config, request, now);
  if (!auth.ok) {
    detail::answer_unauthorized(auth, auth_config.basic.has_value(), out);
    return p;
  }
  out.authenticated = true;
  out.auth_scheme = auth.scheme;
  // Only an authenticated sender learns which methods are accepted.
  if (request.method != "GET" && request.method != "POST") {
    detail::answer_method_not_allowed(request.method, out);
    return p;
  }

  PayloadSource source;
  source.method = request.method;
  source.url = auth.url;
  source.body = request.body;
  if (const auto content_type = request.header("Content-Type")) source.content_type = *content_type;
  Inspection inspection;
  PipelineOptions options;
  options.mode = config_.mode;
  options.limits = config_.limits;
  if (from.source != nullptr) {
    options.sender = &from.source->reading;
    options.path_event = from.path_event;
    options.now = now;
  }
  inspect(source, options, inspection);
  out.report = std::move(inspection.report);
  if (!out.report.valid) {
    detail::answer_invalid(out.report, config_.response.always_200, out);
    return p;
  }

  write_inspected_json(inspection.fields, out.report, options, out.canonical);
  p.finished_ = false;
  p.event_ = *out.report.event;
  p.call_sid_ = std::string(inspection.fields.find("Call.Sid").value_or(""));
  p.account_sid_ = std::string(inspection.fields.find("Account.Sid").value_or(""));
  if (config_.correlation.enabled) {
    // Two senders' call ids never meet: a source's records are keyed by its name too.
    p.record_key_ = from.source != nullptr
                        ? from.source->name + ":" + record_key(p.account_sid_, p.call_sid_)
                        : record_key(p.account_sid_, p.call_sid_);
  }
  p.fields_ = std::move(inspection.fields);
  filterable_headers(request.headers, p.headers_);
  p.query_ = std::string(query_of(auth.url));
  return p;
}

Outcome Engine::decide_request(const Prepared& p, std::int64_t now,
                               const std::optional<std::string>& record) const {
  Outcome out = p.answer_;
  const std::string event(to_string(p.event_));

  // Correlation: fold this event into the call's record. The new record replaces exactly the
  // version that was read; a shell that loses the compare-and-set decides again on the fresh
  // record, so the decision below is always taken on the latest state.
  std::optional<CallRecord> next;
  Fold fold;  // without correlation nothing is folded: no duplicates, no `complete` routes
  if (config_.correlation.enabled) {
    CallRecord current;
    current.key = p.record_key_;
    if (record) {
      std::string why;
      auto stored = parse_record(*record, why);
      if (stored && stored->key != p.record_key_) why = "the record belongs to another call";
      if (!stored || stored->key != p.record_key_) {
        detail::answer_unreadable_record(why, out);
        return out;
      }
      current = std::move(*stored);
    }
    const std::int64_t expected = current.version;
    fold = fold_event(current, p.event_, out.canonical, now, config_.correlation);
    set_record(out, current, expected);
    next = std::move(current);
  }
  if (fold.duplicate) {
    out.duplicate = true;
    detail::answer_duplicate(event, p.call_sid_, p.account_sid_, next->duplicates, out);
    return out;
  }

  // The documents filters and templates see are built only when some route will look at them.
  const bool event_routes = detail::has_routes(config_, Trigger::event);
  const bool complete_routes =
      fold.first_complete && detail::has_routes(config_, Trigger::complete);
  json context;
  json merged;
  if (event_routes || complete_routes) {
    // `complete` routes see every parameter (complete_context puts those not named A-Z at the
    // top, where any path may find one); `event` routes what the plan says they can read.
    const ContextPlan* plan = complete_routes ? nullptr : config_.context_plan.get();
    const bool with_correlation = next && (plan == nullptr || plan->correlation);
    // The canonical event is parsed once: for the context, and as its side of the merged call.
    json event_doc = detail::parse_compact_json(out.canonical);
    if (!event_doc.is_object()) event_doc = json::object();
    json correlation;
    if (with_correlation) {
      const json* complete_doc = p.event_ == EventType::complete ? &event_doc : nullptr;
      const json* initiate_doc = p.event_ == EventType::initiate ? &event_doc : nullptr;
      if (complete_routes) {
        merged = detail::merged_view(*next, complete_doc, initiate_doc);
        correlation = merged["correlation"];
      } else {
        correlation = detail::merged_correlation(*next, complete_doc, initiate_doc);
      }
    }
    context = detail::filter_context(std::move(event_doc), p.fields_, p.headers_, p.query_,
                                     config_.limits, plan);
    if (with_correlation) context["correlation"] = std::move(correlation);
  }
  if (event_routes) {
    detail::fire_routes(config_, Trigger::event, out.canonical, context, p.call_sid_ + ":" + event,
                        now, out, p.record_key_);
  }
  if (complete_routes) {
    // The call is complete: `complete` routes see the merged call, once.
    detail::fire_routes(config_, Trigger::complete, detail::dump_compact_json(merged),
                        detail::complete_context(merged, context), p.call_sid_ + ":complete", now,
                        out, p.record_key_);
  }
  detail::answer_accepted(event, p.call_sid_, p.account_sid_, out);
  return out;
}

Outcome Engine::sweep(const std::string& record, std::int64_t now) const {
  Outcome out;
  out.report.slot.fill(-1);
  out.response.status = 0;  // a sweep answers nobody
  std::string why;
  auto current = parse_record(record, why);
  if (!current) {
    out.log = redact(detail::log_line("error", "record_unreadable", 0,
                                      [&](JsonWriter& w) { w.key("reason").string(why); }));
    return out;
  }
  out.record_key = current->key;
  const std::int64_t expected = current->version;
  if (!abandon_if_due(*current, now, config_.correlation)) return out;  // nothing due
  const json merged = merged_view(*current);
  const std::string call_sid = merged.contains("call") && merged["call"].is_object()
                                   ? merged["call"].value("sid", std::string())
                                   : std::string();
  detail::fire_routes(config_, Trigger::abandoned, detail::dump_compact_json(merged),
                      detail::abandoned_context(merged), call_sid + ":abandoned", now, out,
                      current->key);
  set_record(out, *current, expected);
  out.log = redact(detail::log_line("info", "abandoned", 0, [&](JsonWriter& w) {
    w.key("call_sid").string(call_sid).key("record_key").string(current->key);
    w.key("deliveries").number(static_cast<std::int64_t>(out.deliveries.size()));
  }));
  return out;
}

AttemptVerdict Engine::attempt_result(const AttemptInput& attempt) const {
  const Destination* dest = config_.destination(attempt.destination);
  const bool oauth = dest != nullptr && dest->auth.kind == DestinationAuth::Kind::oauth2;
  AttemptVerdict v =
      decide_attempt(dest != nullptr ? dest->delivery : config_.delivery,
                     dest != nullptr ? answer_reader(dest->format) : nullptr, attempt, oauth,
                     dest != nullptr ? deadline_reason(dest->format) : std::string_view());
  // The reason quotes what the destination or the transport said, which may echo anything: the
  // request's own credentials too (an access token is no config secret that redact knows).
  v.reason = redact(detail::scrub_credentials(v.reason, dest));
  v.log = redact(detail::scrub_credentials(v.log, dest));
  return v;
}

std::string Engine::redact(std::string_view text) const {
  return callhook::redact(text, config_.secrets);
}

// ---- the prepared request as text -------------------------------------------------------------

namespace {

void write_pairs(JsonWriter& w, const FieldList& list) {
  w.begin_array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    w.begin_array().string(list.name(i)).string(list.value(i)).end_array();
  }
  w.end_array();
}

bool read_pairs(const json& doc, const char* key, FieldList& out) {
  const auto it = doc.find(key);
  if (it == doc.end() || !it->is_array()) return false;
  for (const json& pair : *it) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
      return false;
    }
    out.add(pair[0].get_ref<const std::string&>(), pair[1].get_ref<const std::string&>());
  }
  return true;
}

}  // namespace

void Prepared::write_json(std::string& out) const {
  JsonWriter w(out);
  w.begin_object().key("v").number(1).key("finished").boolean(finished_);
  if (finished_) {
    std::string outcome;
    write_outcome_json(answer_, outcome);
    w.key("outcome").raw(outcome);
  } else {
    w.key("record_key").string(record_key_).key("event").string(to_string(event_));
    w.key("call_sid").string(call_sid_).key("account_sid").string(account_sid_);
    w.key("auth_scheme").string(answer_.auth_scheme);
    w.key("canonical").string(answer_.canonical);  // as text: deliveries carry it byte for byte
    w.key("warnings");
    write_diagnostics(w, answer_.report.warnings);
    w.key("fields");
    write_pairs(w, fields_);
    w.key("headers");
    write_pairs(w, headers_);
    w.key("query").string(query_);
  }
  w.end_object();
}

std::optional<Prepared> Prepared::read_json(std::string_view text) {
  const json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (!doc.is_object() || doc.value("v", 0) != 1) return std::nullopt;
  Prepared p;
  p.answer_.report.slot.fill(-1);
  if (doc.value("finished", true)) {
    // A finished request is answered where it was prepared; only its answer travels.
    const auto o = doc.find("outcome");
    if (o == doc.end() || !o->is_object()) return std::nullopt;
    const json& r = (*o)["response"];
    if (!r.is_object() || !r["status"].is_number_integer() || !r["body"].is_string()) {
      return std::nullopt;
    }
    p.finished_ = true;
    p.answer_.response.status = r["status"].get<int>();
    p.answer_.response.body = r["body"].get<std::string>();
    if (r["headers"].is_array()) {
      for (const json& h : r["headers"]) {
        if (h.is_array() && h.size() == 2 && h[0].is_string() && h[1].is_string()) {
          p.answer_.response.headers.push_back({h[0].get<std::string>(), h[1].get<std::string>()});
        }
      }
    }
    return p;
  }
  const auto text_of = [&](const char* key, std::string& into) {
    const auto it = doc.find(key);
    if (it == doc.end() || !it->is_string()) return false;
    into = it->get<std::string>();
    return true;
  };
  std::string event;
  if (!text_of("record_key", p.record_key_) || !text_of("event", event) ||
      !text_of("call_sid", p.call_sid_) || !text_of("account_sid", p.account_sid_) ||
      !text_of("auth_scheme", p.answer_.auth_scheme) ||
      !text_of("canonical", p.answer_.canonical) || !text_of("query", p.query_) ||
      !read_pairs(doc, "fields", p.fields_) || !read_pairs(doc, "headers", p.headers_)) {
    return std::nullopt;
  }
  const auto type = parse_event(event);
  if (!type) return std::nullopt;
  p.event_ = *type;
  p.answer_.authenticated = true;
  p.answer_.report.valid = true;
  p.answer_.report.event = *type;
  if (const auto w = doc.find("warnings"); w != doc.end() && w->is_array()) {
    for (const json& d : *w) {
      if (!d.is_object()) continue;
      p.answer_.report.warnings.push_back({d.value("field", std::string()),
                                           d.value("code", std::string()),
                                           d.value("message", std::string())});
    }
  }
  return p;
}

namespace {

void write_headers(JsonWriter& w, const std::vector<HttpHeader>& headers) {
  w.begin_array();
  for (const HttpHeader& h : headers) w.begin_array().string(h.name).string(h.value).end_array();
  w.end_array();
}

}  // namespace

namespace {

// write_outcome_json and its skeleton (write_outcome_skeleton): `texts` false writes `event`,
// `record` and `log` as 0 when the outcome has them.
void write_outcome(const Outcome& outcome, std::string& out, bool texts) {
  JsonWriter w(out);
  w.begin_object();
  w.key("response").begin_object();
  w.key("status").number(outcome.response.status);
  w.key("headers");
  write_headers(w, outcome.response.headers);
  w.key("body").string(outcome.response.body);
  w.end_object();
  w.key("deliveries").begin_array();
  for (const Delivery& d : outcome.deliveries) detail::write_delivery(w, d);
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
  w.key("auth_scheme");
  if (outcome.auth_scheme.empty()) {
    w.null();
  } else {
    w.string(outcome.auth_scheme);
  }
  std::string verdict;
  write_report_json(outcome.report, verdict);
  w.key("verdict").raw(verdict);
  w.key("event");
  if (outcome.canonical.empty()) {
    w.null();
  } else if (texts) {
    w.raw(outcome.canonical);
  } else {
    w.number(0);
  }
  w.key("duplicate").boolean(outcome.duplicate);
  // What a store keeps: the record as text (saved byte for byte) and the facts about it, so no
  // shell ever reads inside a record.
  if (outcome.record) {
    w.key("record");
    if (texts) {
      w.string(*outcome.record);
    } else {
      w.number(0);
    }
    w.key("record_key").string(outcome.record_key);
    w.key("expected_version").number(outcome.record_expected_version);
    w.key("version").number(outcome.record_version);
    w.key("expires_at").number(outcome.record_expires_at);
    w.key("sweep_at");
    if (outcome.record_sweep_at) {
      w.number(*outcome.record_sweep_at);
    } else {
      w.null();
    }
  } else {
    w.key("record").null().key("record_key").null().key("expected_version").null();
    w.key("version").null().key("expires_at").null().key("sweep_at").null();
  }
  w.key("log");
  if (outcome.log.empty()) {
    w.null();
  } else if (texts) {
    w.raw(outcome.log);
  } else {
    w.number(0);
  }
  w.end_object();
}

}  // namespace

void write_outcome_json(const Outcome& outcome, std::string& out) {
  write_outcome(outcome, out, true);
}

void write_outcome_skeleton(const Outcome& outcome, std::string& out) {
  write_outcome(outcome, out, false);
}

}  // namespace callhook
