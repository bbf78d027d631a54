// The Embind surface of the npm package (bindings/js). Every entry point reads its inputs from one
// byte range of the wasm heap that the JavaScript side filled (the payload bytes first, then
// small UTF-8 JSON metadata), and answers in one reused output buffer: a status byte followed by
// UTF-8 JSON, which the JavaScript side decodes before its next call. Payloads thus
// cross once, as bytes, and no std::string is marshalled by Embind in either direction.
//
// Status bytes: 'R' a result, 'I' an invalid payload (the verdict follows), 'E' an error (a JSON
// array of {field, code, message} follows), 'V' a verdict without findings (inspect_payload),
// 'O' an outcome carried as its JSON skeleton and three texts (outcome()).
#include <emscripten/bind.h>

#include <cmath>
#include <cstdint>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "callhook/config.h"
#include "callhook/engine.h"
#include "callhook/erasure.h"
#include "callhook/filter.h"
#include "callhook/front_door.h"
#include "callhook/normalize.h"
#include "callhook/pipeline.h"
#include "callhook/redact.h"
#include "callhook/render.h"
#include "json_writer.h"

namespace callhook::wasm {
namespace {

using nlohmann::json;
using View = std::uintptr_t;  // the address of {address, length} of an answer (finish())

// The one output buffer; its capacity is kept between calls.
std::string& output() {
  static std::string buffer;
  return buffer;
}

// Where the answer is: {address, length} of the output buffer, read by the JavaScript side from
// HEAPU32. (Embind cannot return a memory_view by value: clang returns that aggregate through a
// hidden pointer, which Embind's invoker signature does not describe.)
// An outcome's answer ('O', outcome()) also gives there the byte lengths of its three texts.
std::uint32_t* answer_place() {
  static std::uint32_t where[5];
  return where;
}

View finish() {
  std::uint32_t* where = answer_place();
  const std::string& out = output();
  where[0] = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(out.data()));
  where[1] = static_cast<std::uint32_t>(out.size());
  return reinterpret_cast<std::uintptr_t>(where);
}

// Starts an output with its status byte and returns the buffer to append JSON to.
std::string& begin(char status) {
  std::string& out = output();
  out.clear();
  out.push_back(status);
  return out;
}

std::string_view bytes(std::uintptr_t at, std::size_t length) {
  return {reinterpret_cast<const char*>(at), length};
}

json parse_json(std::string_view text) {
  return json::parse(text.begin(), text.end(), nullptr, false);
}

View error(const std::vector<Diagnostic>& list) {
  JsonWriter w(begin('E'));
  write_diagnostics(w, list);
  return finish();
}

View error(std::string_view code, std::string_view message) {
  return error({Diagnostic{"", std::string(code), std::string(message)}});
}

std::int64_t epoch_seconds(double now) {
  if (!std::isfinite(now) || now < 0) return 0;
  return static_cast<std::int64_t>(std::floor(now));
}

// ---- parse, validate, normalize ---------------------------------------------------------------

// kVerdict is kValidate answering a verdict with no errors and no warnings (most of them) as 'V',
// '1' or '0' (valid or not) and the event's name (nothing for none), which the JavaScript side
// turns into {valid, event, errors: [], warnings: []} without parsing any JSON.
enum Verb : int { kParse = 0, kValidate = 1, kNormalize = 2, kInspect = 3, kVerdict = 4 };

void write_fields(JsonWriter& w, const FieldList& fields) {
  w.begin_array();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    w.begin_array().string(fields.name(i)).string(fields.value(i)).end_array();
  }
  w.end_array();
}

// Reused between calls, as the CLI's --ndjson loop does, so a steady stream allocates little.
Inspection& inspection() {
  static Inspection value;
  return value;
}

std::size_t limit_value(const json& limits, const char* name, std::size_t fallback) {
  const auto it = limits.find(name);
  if (it == limits.end() || !it->is_number_unsigned()) return fallback;
  return it->get<std::size_t>();
}

// Metadata (all optional): {"method", "url", "contentType", "mode", "limits": {...}}. The
// JavaScript side has checked the options already.
View inspect_payload(int verb, std::uintptr_t at, std::size_t body_length,
                     std::size_t meta_length) {
  PayloadSource source;
  source.body = bytes(at, body_length);
  PipelineOptions options;
  SenderSettings sender;
  std::string webhook;
  json meta;
  std::string method, url, content_type;
  if (meta_length > 0) {
    meta = parse_json(bytes(at + body_length, meta_length));
    if (!meta.is_object()) return error("bad_options", "the options are not a JSON object");
    if (const auto it = meta.find("method"); it != meta.end() && it->is_string()) {
      method = it->get<std::string>();
      source.method = method;
    }
    if (const auto it = meta.find("url"); it != meta.end() && it->is_string()) {
      url = it->get<std::string>();
      source.url = url;
    }
    if (const auto it = meta.find("contentType"); it != meta.end() && it->is_string()) {
      content_type = it->get<std::string>();
      source.content_type = content_type;
    }
    if (const auto it = meta.find("mode"); it != meta.end() && it->is_string()) {
      const auto mode = parse_mode(it->get<std::string>());
      if (!mode) return error("bad_options", "mode is lenient or strict");
      options.mode = *mode;
    }
    if (const auto it = meta.find("sender"); it != meta.end() && it->is_string()) {
      const auto format = parse_sender_format(it->get<std::string>());
      if (!format)
        return error("bad_options", "sender is voice-webhooks, twilio, callrail, ctm or ringba");
      sender.sender = *format;
      sender.source = it->get<std::string>();
      options.sender = &sender;
      options.now = static_cast<std::int64_t>(std::time(nullptr));
    }
    if (const auto it = meta.find("webhook"); it != meta.end() && it->is_string()) {
      webhook = it->get<std::string>();
      options.path_event = webhook;
    }
    if (const auto it = meta.find("limits"); it != meta.end() && it->is_object()) {
      Limits& l = options.limits;
      l.max_body_bytes = limit_value(*it, "max_body_bytes", l.max_body_bytes);
      l.max_fields = limit_value(*it, "max_fields", l.max_fields);
      l.max_name_bytes = limit_value(*it, "max_name_bytes", l.max_name_bytes);
      l.max_value_bytes = limit_value(*it, "max_value_bytes", l.max_value_bytes);
    }
  }

  Inspection& result = inspection();
  if (verb == kParse) {
    result.fields.clear();
    const Decoded decoded = decode_payload(source, options.limits, result.fields);
    if (decoded.error) return error({*decoded.error});
    JsonWriter w(begin('R'));
    write_fields(w, result.fields);
    return finish();
  }
  sender.mode = options.mode;
  inspect(source, options, result);
  if (verb == kInspect) {
    // Everything at once, for tools that show the decoded pairs next to the verdict: the pairs
    // decoded before a decoder refused the payload are kept, as the native vector runner sees
    // them.
    std::string& out = begin('R');
    JsonWriter w(out);
    w.begin_object().key("fields");
    write_fields(w, result.fields);
    std::string text;
    write_report_json(result.report, text);
    w.key("verdict").raw(text).key("event");
    text.clear();
    if (write_inspected_json(result.fields, result.report, options, text)) {
      w.raw(text);
    } else {
      w.null();
    }
    w.end_object();
    return finish();
  }
  if (verb == kNormalize) {
    std::string& out = begin('R');
    if (write_inspected_json(result.fields, result.report, options, out)) return finish();
  }
  const Report& report = result.report;
  if (verb == kVerdict && report.errors.empty() && report.warnings.empty()) {
    std::string& out = begin('V');
    out.push_back(report.valid ? '1' : '0');
    if (report.event) out.append(to_string(*report.event));
    return finish();
  }
  write_report_json(report, begin(report.valid ? 'R' : 'I'));
  return finish();
}

// ---- match ------------------------------------------------------------------------------------

View match(std::uintptr_t at, std::size_t filter_length, std::size_t document_length) {
  const json filter = parse_json(bytes(at, filter_length));
  if (filter.is_discarded()) return error("bad_filter", "the filter is not valid JSON");
  const auto problems = check_filter(filter);
  if (!problems.empty()) return error(problems);
  const json document = parse_json(bytes(at + filter_length, document_length));
  if (document.is_discarded()) return error("bad_document", "the document is not valid JSON");
  begin('R').append(filter_matches(filter, document) ? "true" : "false");
  return finish();
}

// ---- configs and secrets ----------------------------------------------------------------------

// The secrets a config references, so that the JavaScript side can look up exactly those (its
// lookup may be asynchronous) and pass their values in. Parsing twice costs microseconds, once
// per engine.
View secret_names(std::uintptr_t at, std::size_t length) {
  std::vector<std::string> names;
  const SecretLookup record = [&names](std::string_view name) -> std::optional<std::string> {
    for (const std::string& n : names) {
      if (n == name) return std::string("x");
    }
    names.emplace_back(name);
    return std::string("x");
  };
  (void)parse_config(bytes(at, length), record);
  JsonWriter w(begin('R'));
  w.begin_array();
  for (const std::string& n : names) w.string(n);
  w.end_array();
  return finish();
}

// Secrets arrive as a JSON object of strings, resolved by the JavaScript side.
SecretLookup lookup_in(const json& secrets) {
  return [&secrets](std::string_view name) -> std::optional<std::string> {
    if (!secrets.is_object()) return std::nullopt;
    const auto it = secrets.find(std::string(name));
    if (it == secrets.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
}

// An outcome as 'O' + write_outcome_skeleton's JSON, then the event's JSON, the record's text
// and the log line's JSON, unescaped, their byte lengths at {address, length} + 2, 3, 4: the
// JavaScript side decodes the record in one call and parses the event only when it is read.
View outcome(const Outcome& o) {
  std::string& out = begin('O');
  write_outcome_skeleton(o, out);
  out.append(o.canonical);
  if (o.record) out.append(*o.record);
  out.append(o.log);
  const View where = finish();
  std::uint32_t* lengths = answer_place();
  lengths[2] = static_cast<std::uint32_t>(o.canonical.size());
  lengths[3] = static_cast<std::uint32_t>(o.record ? o.record->size() : 0);
  lengths[4] = static_cast<std::uint32_t>(o.log.size());
  return where;
}

// ---- engines ----------------------------------------------------------------------------------

// Objects JavaScript holds by handle (engines, prepared requests): a handle is an index + 1,
// reused once freed.
template <class T>
class Handles {
 public:
  const T* at(int handle) const {
    if (handle <= 0 || static_cast<std::size_t>(handle) > list_.size()) return nullptr;
    return list_[static_cast<std::size_t>(handle) - 1].get();
  }
  int keep(T value) {
    for (std::size_t i = 0; i < list_.size(); ++i) {
      if (!list_[i]) {
        list_[i] = std::make_unique<T>(std::move(value));
        return static_cast<int>(i) + 1;
      }
    }
    list_.push_back(std::make_unique<T>(std::move(value)));
    return static_cast<int>(list_.size());
  }
  void free(int handle) {
    if (at(handle) != nullptr) list_[static_cast<std::size_t>(handle) - 1].reset();
  }

 private:
  std::vector<std::unique_ptr<T>> list_;
};

Handles<Engine>& engines() {
  static Handles<Engine> handles;
  return handles;
}

const Engine* engine_at(int handle) {
  return engines().at(handle);
}

int keep(Engine engine) {
  return engines().keep(std::move(engine));
}

// Output 'R' + the engine's handle, or 'E' + every config problem.
View engine_create(std::uintptr_t at, std::size_t config_length, std::size_t secrets_length) {
  const json secrets = parse_json(bytes(at + config_length, secrets_length));
  std::vector<Diagnostic> errors;
  auto engine = Engine::from_config(bytes(at, config_length), lookup_in(secrets), &errors);
  if (!engine) return error(errors);
  begin('R').append(std::to_string(keep(std::move(*engine))));
  return finish();
}

void engine_free(int handle) {
  engines().free(handle);
}

// A request from its metadata {"method", "url", "headers": [[name, value], ...]} and its body.
std::optional<Request> request_from(std::string_view body, std::string_view meta_text,
                                    std::string& problem) {
  const json meta = parse_json(meta_text);
  if (!meta.is_object()) {
    problem = "the request metadata is not an object";
    return std::nullopt;
  }
  Request request;
  if (const auto it = meta.find("method"); it != meta.end() && it->is_string()) {
    request.method = it->get<std::string>();
  }
  if (const auto it = meta.find("url"); it != meta.end() && it->is_string()) {
    request.url = it->get<std::string>();
  }
  if (const auto it = meta.find("headers"); it != meta.end() && it->is_array()) {
    for (const json& pair : *it) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
        problem = "headers must be [name, value] string pairs";
        return std::nullopt;
      }
      request.headers.push_back({pair[0].get<std::string>(), pair[1].get<std::string>()});
    }
  }
  request.body.assign(body);
  return request;
}

// Metadata as for request_from; the record (when `has_record`) follows it.
View engine_handle(int handle, std::uintptr_t at, std::size_t body_length, std::size_t meta_length,
                   std::size_t record_length, bool has_record, double now) {
  const Engine* engine = engine_at(handle);
  if (engine == nullptr) return error("closed_engine", "this engine has been closed");
  std::string problem;
  const auto request =
      request_from(bytes(at, body_length), bytes(at + body_length, meta_length), problem);
  if (!request) return error("bad_request", problem);
  std::optional<std::string> record;
  if (has_record) record.emplace(bytes(at + body_length + meta_length, record_length));
  return outcome(engine->handle(*request, epoch_seconds(now), record));
}

// Prepared requests live here between prepare and decide.
Handles<Prepared>& prepared_list() {
  static Handles<Prepared> handles;
  return handles;
}

const Prepared* prepared_at(int id) {
  return prepared_list().at(id);
}

int keep_prepared(Prepared prepared) {
  return prepared_list().keep(std::move(prepared));
}

void prepared_free(int id) {
  prepared_list().free(id);
}

// Output 'R' + {"id", "record_key"}: a finished request has no id (0) and carries its outcome,
// so it costs one crossing; the others keep their prepared state here until freed.
View engine_prepare(int handle, std::uintptr_t at, std::size_t body_length, std::size_t meta_length,
                    double now) {
  const Engine* engine = engine_at(handle);
  if (engine == nullptr) return error("closed_engine", "this engine has been closed");
  std::string problem;
  const auto request =
      request_from(bytes(at, body_length), bytes(at + body_length, meta_length), problem);
  if (!request) return error("bad_request", problem);
  const std::int64_t t = epoch_seconds(now);
  Prepared prepared = engine->prepare(*request, t);
  std::string& out = begin('R');
  JsonWriter w(out);
  w.begin_object();
  if (prepared.finished()) {
    std::string text;
    write_outcome_json(engine->decide(prepared, t), text);
    w.key("id").number(0).key("record_key").null().key("outcome").raw(text);
  } else {
    w.key("record_key");
    if (prepared.record_key().empty()) {
      w.null();
    } else {
      w.string(prepared.record_key());
    }
    w.key("id").number(keep_prepared(std::move(prepared)));
  }
  w.end_object();
  return finish();
}

// Decides a kept prepared request on the record that follows (when `has_record`).
View engine_decide(int handle, int id, std::uintptr_t at, std::size_t record_length,
                   bool has_record, double now) {
  const Engine* engine = engine_at(handle);
  if (engine == nullptr) return error("closed_engine", "this engine has been closed");
  const Prepared* prepared = prepared_at(id);
  if (prepared == nullptr) return error("closed_prepared", "this prepared request has been freed");
  std::optional<std::string> record;
  if (has_record) record.emplace(bytes(at, record_length));
  return outcome(engine->decide(*prepared, epoch_seconds(now), record));
}

View prepared_text(int id) {
  const Prepared* prepared = prepared_at(id);
  if (prepared == nullptr) return error("closed_prepared", "this prepared request has been freed");
  prepared->write_json(begin('R'));
  return finish();
}

// Decides a prepared request given as text (Prepared::write_json), then the record.
View engine_decide_text(int handle, std::uintptr_t at, std::size_t text_length,
                        std::size_t record_length, bool has_record, double now) {
  const Engine* engine = engine_at(handle);
  if (engine == nullptr) return error("closed_engine", "this engine has been closed");
  const auto prepared = Prepared::read_json(bytes(at, text_length));
  if (!prepared) return error("bad_prepared", "the prepared request text is not one");
  std::optional<std::string> record;
  if (has_record) record.emplace(bytes(at + text_length, record_length));
  return outcome(engine->decide(*prepared, epoch_seconds(now), record));
}

View engine_sweep(int handle, std::uintptr_t at, std::size_t record_length, double now) {
  const Engine* engine = engine_at(handle);
  if (engine == nullptr) return error("closed_engine", "this engine has been closed");
  return outcome(engine->sweep(std::string(bytes(at, record_length)), epoch_seconds(now)));
}

// The attempt as JSON (parse_attempt_json's form); output 'R' + the verdict.
View engine_attempt(int handle, std::uintptr_t at, std::size_t length) {
  const Engine* engine = engine_at(handle);
  if (engine == nullptr) return error("closed_engine", "this engine has been closed");
  std::string problem;
  const auto input = parse_attempt_json(bytes(at, length), problem);
  if (!input) return error("bad_attempt", problem);
  write_attempt_verdict_json(engine->attempt_result(*input), begin('R'));
  return finish();
}

// A sealed delivery's text, then the destination's cached access token (may be empty); the
// pace arrives as two numbers (`pace_tokens` < 0: a fresh bucket), the clock in epoch ms.
// Output 'R' + the plan (write_send_plan_json).
View engine_plan_send(int handle, std::uintptr_t at, std::size_t sealed_length,
                      std::size_t token_length, double pace_tokens, double pace_at_ms,
                      double now_ms) {
  const Engine* engine = engine_at(handle);
  if (engine == nullptr) return error("closed_engine", "this engine has been closed");
  const auto ms = [](double v) {
    return std::isfinite(v) && v > 0 ? static_cast<std::int64_t>(v) : std::int64_t{0};
  };
  PaceState pace;
  pace.tokens = std::isfinite(pace_tokens) ? pace_tokens : -1;
  pace.at_ms = ms(pace_at_ms);
  const SendPlan plan = engine->plan_send(
      bytes(at, sealed_length), bytes(at + sealed_length, token_length), pace, ms(now_ms));
  write_send_plan_json(plan, begin('R'));
  return finish();
}

// The token endpoint's answer as an attempt (parse_attempt_json's form); output 'R' +
// {"access_token", "cache_until_ms"} or {"verdict"} (write_token_outcome_json).
View engine_token_result(int handle, std::uintptr_t at, std::size_t length) {
  const Engine* engine = engine_at(handle);
  if (engine == nullptr) return error("closed_engine", "this engine has been closed");
  std::string problem;
  const auto input = parse_attempt_json(bytes(at, length), problem);
  if (!input) return error("bad_attempt", problem);
  write_token_outcome_json(engine->token_result(*input), begin('R'));
  return finish();
}

// What a shell sizes per destination: 'R' + {name: {"concurrency": n or null (the shell's
// default), "rate_limit": {"per_second", "burst"} or null, "oauth": bool}}. Read once per engine.
View engine_destination_limits(int handle) {
  const Engine* engine = engine_at(handle);
  if (engine == nullptr) return error("closed_engine", "this engine has been closed");
  JsonWriter w(begin('R'));
  w.begin_object();
  for (const Destination& d : engine->config().destinations) {
    w.key(d.name).begin_object().key("concurrency");
    if (d.concurrency > 0) {
      w.number(d.concurrency);
    } else {
      w.null();
    }
    w.key("rate_limit");
    if (d.rate_limit.per_second > 0) {
      w.begin_object().key("per_second").raw(json(d.rate_limit.per_second).dump());
      w.key("burst").raw(json(d.rate_limit.burst).dump()).end_object();
    } else {
      w.null();
    }
    w.key("oauth").boolean(d.auth.kind == DestinationAuth::Kind::oauth2).end_object();
  }
  w.end_object();
  return finish();
}

// A delivery as JSON (an outcome's `deliveries` entry); output 'R' + its sealed text
// (Engine::seal), or 'E' (bad_delivery).
View engine_seal(int handle, std::uintptr_t at, std::size_t length) {
  const Engine* engine = engine_at(handle);
  if (engine == nullptr) return error("closed_engine", "this engine has been closed");
  std::string problem;
  const auto delivery = parse_delivery_json(bytes(at, length), problem);
  if (!delivery) return error("bad_delivery", problem);
  begin('R').append(engine->seal(*delivery));
  return finish();
}

// A sealed delivery's text; output 'R' + the delivery as JSON, or 'E' with the unseal error's
// code (missing_secret, bad_sealed).
View engine_unseal(int handle, std::uintptr_t at, std::size_t length) {
  const Engine* engine = engine_at(handle);
  if (engine == nullptr) return error("closed_engine", "this engine has been closed");
  const Unsealed unsealed = engine->unseal(bytes(at, length));
  if (!unsealed.delivery) return error(unsealed.error.code, unsealed.error.message);
  write_delivery_json(*unsealed.delivery, begin('R'));
  return finish();
}

// The call's stored record, then {"route", "destination", "trigger", "event"}; output 'R' + the
// delivery rendered again by this engine's config (Engine::rerender), or 'E' with its code.
View engine_rerender(int handle, std::uintptr_t at, std::size_t record_length,
                     std::size_t meta_length) {
  const Engine* engine = engine_at(handle);
  if (engine == nullptr) return error("closed_engine", "this engine has been closed");
  const json meta = parse_json(bytes(at + record_length, meta_length));
  if (!meta.is_object()) return error("bad_rerender", "the rerender options are not an object");
  const auto text = [&meta](const char* key) -> std::string_view {
    const auto it = meta.find(key);
    return it != meta.end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>())
                                               : std::string_view();
  };
  const auto now = meta.find("now");
  const std::int64_t now_s =
      now != meta.end() && now->is_number_integer() ? now->get<std::int64_t>() : 0;
  const Rerendered r =
      engine->rerender({bytes(at, record_length), text("route"), text("destination"),
                        text("trigger"), text("event"), now_s});
  if (!r.delivery) return error(r.error.code, r.error.message);
  write_delivery_json(*r.delivery, begin('R'));
  return finish();
}

// The erasure subject from its JSON {"call_sid", "phone"} (either may be absent or empty).
std::optional<ErasureSubject> subject_from(std::string_view text, ErasureProblem& problem) {
  const json doc = parse_json(text);
  if (!doc.is_object()) {
    problem = {"bad_subject", "the subject is an object {call_sid, phone}"};
    return std::nullopt;
  }
  std::string call_sid, phone;
  for (const auto& [key, into] : {std::pair<const char*, std::string*>{"call_sid", &call_sid},
                                  std::pair<const char*, std::string*>{"phone", &phone}}) {
    const auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) continue;
    if (!it->is_string()) {
      problem = {"bad_subject", std::string(key) + " must be a string"};
      return std::nullopt;
    }
    *into = it->get<std::string>();
  }
  return erasure_subject(call_sid, phone, problem);
}

// The subject as JSON; output 'R' + {"call_sid", "phone": E.164 or ""}, or 'E' (bad_phone,
// empty_subject, bad_subject).
View erasure_subject_of(std::uintptr_t at, std::size_t length) {
  ErasureProblem problem;
  const auto subject = subject_from(bytes(at, length), problem);
  if (!subject) return error(problem.code, problem.message);
  JsonWriter w(begin('R'));
  w.begin_object().key("call_sid").string(subject->call_sid);
  w.key("phone").string(subject->phone).end_object();
  return finish();
}

// A stored text, then the subject as JSON; output 'R' + true or false (Engine::mentions), or 'E'.
View engine_mentions(int handle, std::uintptr_t at, std::size_t text_length,
                     std::size_t subject_length) {
  const Engine* engine = engine_at(handle);
  if (engine == nullptr) return error("closed_engine", "this engine has been closed");
  ErasureProblem problem;
  const auto subject = subject_from(bytes(at + text_length, subject_length), problem);
  if (!subject) return error(problem.code, problem.message);
  begin('R').append(engine->mentions(bytes(at, text_length), *subject) ? "true" : "false");
  return finish();
}

// `text` redacted of the engine's secrets and of phone numbers; handle 0: phone numbers only.
View redact_text(int handle, std::uintptr_t at, std::size_t length) {
  const std::string_view text = bytes(at, length);
  const Engine* engine = handle == 0 ? nullptr : engine_at(handle);
  if (handle != 0 && engine == nullptr)
    return error("closed_engine", "this engine has been closed");
  begin('R').append(engine != nullptr ? engine->redact(text) : redact(text));
  return finish();
}

// ---- render -----------------------------------------------------------------------------------

// Renders one destination, given as {"destinations": {"destination": ...}} so that the config
// reader checks it; problems are reported with pointers relative to the destination.
View render_destination(std::uintptr_t at, std::size_t config_length, std::size_t secrets_length,
                        std::size_t event_length) {
  const json secrets = parse_json(bytes(at + config_length, secrets_length));
  ConfigResult result = parse_config(bytes(at, config_length), lookup_in(secrets));
  if (!result.config || result.config->destinations.empty()) {
    constexpr std::string_view kPrefix = "/destinations/destination";
    for (Diagnostic& d : result.errors) {
      if (d.field.starts_with(kPrefix)) d.field.erase(0, kPrefix.size());
    }
    if (result.errors.empty()) return error("bad_destination", "no destination was given");
    return error(result.errors);
  }
  const std::string_view event = bytes(at + config_length + secrets_length, event_length);
  json context = parse_json(event);
  if (!context.is_object()) return error("bad_event", "the event is not a JSON object");
  // No clock (0): a preview renders every event as on time, whatever its age.
  const Rendered rendered = render(result.config->destinations.front(), event, context, 0);
  JsonWriter w(begin('R'));
  w.begin_object();
  if (rendered.skipped.empty()) {
    w.key("body").string(rendered.body).key("contentType").string(rendered.content_type);
    w.key("skipped").null();
  } else {
    w.key("body").null().key("contentType").null().key("skipped").string(rendered.skipped);
  }
  w.end_object();
  return finish();
}

// ---- the front door ---------------------------------------------------------------------------
// Engine-independent, so that a shell can answer even when its config cannot be built.

void write_response(JsonWriter& w, const Response& response) {
  w.begin_object().key("status").number(response.status).key("headers").begin_array();
  for (const HttpHeader& h : response.headers) {
    w.begin_array().string(h.name).string(h.value).end_array();
  }
  w.end_array().key("body").string(response.body).end_object();
}

// Method, target and (when `has_host`) the Host header, one after another; output 'R' +
// {"endpoint", "path", "response": the refusal or null}.
View front_door_route(std::uintptr_t at, std::size_t method_length, std::size_t target_length,
                      std::size_t host_length, bool has_host) {
  const std::string_view host = bytes(at + method_length + target_length, host_length);
  const FrontDoorRoute r = route(bytes(at, method_length), bytes(at + method_length, target_length),
                                 has_host ? std::optional<std::string_view>(host) : std::nullopt);
  JsonWriter w(begin('R'));
  w.begin_object().key("endpoint").string(endpoint_name(r.endpoint)).key("path").string(r.path);
  w.key("response");
  if (r.endpoint == Endpoint::refused) {
    write_response(w, r.response);
  } else {
    w.null();
  }
  w.end_object();
  return finish();
}

// The refusal's kind, then its detail; output 'R' + the response, or 'E' for an unknown kind.
View front_door_refusal(std::uintptr_t at, std::size_t kind_length, std::size_t detail_length) {
  const auto kind = parse_refusal(bytes(at, kind_length));
  if (!kind) return error("unknown_refusal", "no refusal has that kind");
  JsonWriter w(begin('R'));
  write_response(w, refusal(*kind, bytes(at + kind_length, detail_length)));
  return finish();
}

// The Authorization header (when `has_authorization`), then the configured admin token; output
// 'R' + null (allowed) or the response to answer with (admin_check).
View front_door_admin_check(std::uintptr_t at, std::size_t authorization_length,
                            std::size_t token_length, bool has_authorization) {
  const std::string_view authorization = bytes(at, authorization_length);
  const auto answer =
      admin_check(has_authorization ? std::optional<std::string_view>(authorization) : std::nullopt,
                  bytes(at + authorization_length, token_length));
  JsonWriter w(begin('R'));
  if (answer) {
    write_response(w, *answer);
  } else {
    w.null();
  }
  return finish();
}

// The /healthz answer for a state; negative counts are left out.
View front_door_health(std::uintptr_t at, std::size_t state_length, double pending,
                       double dead_letters) {
  const auto count = [](double n) {
    return std::isfinite(n) && n >= 0 ? static_cast<std::int64_t>(n) : std::int64_t{-1};
  };
  JsonWriter w(begin('R'));
  write_response(w, health(bytes(at, state_length), count(pending), count(dead_letters)));
  return finish();
}

// ---- schemas ----------------------------------------------------------------------------------

View schema(int which) {
  begin('R').append(which == 0 ? canonical_event_schema() : spec_fields_markdown());
  return finish();
}

}  // namespace
}  // namespace callhook::wasm

EMSCRIPTEN_BINDINGS(callhook) {
  using namespace callhook::wasm;
  emscripten::function("inspectPayload", &inspect_payload);
  emscripten::function("matchFilter", &match);
  emscripten::function("secretNames", &secret_names);
  emscripten::function("engineCreate", &engine_create);
  emscripten::function("engineFree", &engine_free);
  emscripten::function("engineHandle", &engine_handle);
  emscripten::function("engineSweep", &engine_sweep);
  emscripten::function("engineAttempt", &engine_attempt);
  emscripten::function("enginePlanSend", &engine_plan_send);
  emscripten::function("engineTokenResult", &engine_token_result);
  emscripten::function("engineDestinationLimits", &engine_destination_limits);
  emscripten::function("engineSeal", &engine_seal);
  emscripten::function("engineUnseal", &engine_unseal);
  emscripten::function("engineRerender", &engine_rerender);
  emscripten::function("enginePrepare", &engine_prepare);
  emscripten::function("engineDecide", &engine_decide);
  emscripten::function("engineDecideText", &engine_decide_text);
  emscripten::function("preparedText", &prepared_text);
  emscripten::function("preparedFree", &prepared_free);
  emscripten::function("redactText", &redact_text);
  emscripten::function("engineMentions", &engine_mentions);
  emscripten::function("erasureSubject", &erasure_subject_of);
  emscripten::function("renderDestination", &render_destination);
  emscripten::function("schemaText", &schema);
  emscripten::function("frontDoorRoute", &front_door_route);
  emscripten::function("frontDoorRefusal", &front_door_refusal);
  emscripten::function("frontDoorHealth", &front_door_health);
  emscripten::function("frontDoorAdminCheck", &front_door_admin_check);
}
