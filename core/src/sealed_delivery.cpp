// Deliveries as text: the plain JSON form every binding spells, and the sealed form a shell keeps
// at rest, whose strings hold `${NAME}` references instead of secret values (sealed_delivery.h
// has the grammar; the README, "Sealed deliveries", the format).
#include "sealed_delivery.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "callhook/engine.h"
#include "json_writer.h"
#include "utf8.h"

namespace callhook {
namespace detail {
namespace {

constexpr char kUpperHex[] = "0123456789ABCDEF";

enum class Form { raw, pct, json };

constexpr std::string_view suffix(Form form) {
  switch (form) {
    case Form::raw:
      return "";
    case Form::pct:
      return ":pct";
    case Form::json:
      return ":json";
  }
  return "";
}

std::string form_of(std::string_view value, Form form) {
  switch (form) {
    case Form::raw:
      return std::string(value);
    case Form::pct:
      return percent_encoded(value);
    case Form::json:
      return json_escaped(value);
  }
  return std::string(value);
}

// The config's spelling of a secret name (config.cpp resolves the same).
bool is_name_char(char c, bool first) {
  return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

bool unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// One text that seal_text replaces, and the reference it becomes.
struct Candidate {
  std::string text;
  std::string_view name;
  Form form;
  std::size_t order;  // the config's order, which breaks ties in length
};

// Every form of every secret long enough, longest first. Among equal texts the first secret's
// reference wins (two names with one value unseal to the same bytes either way).
std::vector<Candidate> candidates(const std::vector<ResolvedSecret>& secrets) {
  std::vector<Candidate> out;
  for (const auto& [name, value] : secrets) {
    if (value.size() < kSealedSecretBytes) continue;
    for (const Form form : {Form::raw, Form::pct, Form::json}) {
      std::string text = form_of(value, form);
      if (form != Form::raw && text == value) continue;  // the same bytes: ${NAME} covers them
      const bool seen =
          std::any_of(out.begin(), out.end(), [&](const Candidate& c) { return c.text == text; });
      if (!seen) out.push_back({std::move(text), name, form, out.size()});
    }
  }
  // Not stable_sort: libstdc++'s needs get_temporary_buffer, which clang calls deprecated.
  std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    if (a.text.size() != b.text.size()) return a.text.size() > b.text.size();
    return a.order < b.order;
  });
  return out;
}

const std::string* secret_value(const std::vector<ResolvedSecret>& secrets, std::string_view name) {
  for (const auto& [n, value] : secrets) {
    if (n == name) return &value;
  }
  return nullptr;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // lower case is not what seal_text writes
}

bool malformed(UnsealProblem& problem, std::size_t at, std::string_view what) {
  problem.code = "bad_sealed";
  problem.message = "byte " + std::to_string(at) + ": " + std::string(what);
  return false;
}

}  // namespace

std::string percent_encoded(std::string_view value) {
  std::string out;
  out.reserve(value.size() * 3);
  for (const char c : value) {
    if (unreserved(c)) {
      out.push_back(c);
    } else {
      const auto u = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kUpperHex[u >> 4]);
      out.push_back(kUpperHex[u & 15]);
    }
  }
  return out;
}

std::string json_escaped(std::string_view value) {
  std::string quoted;
  append_json_string(quoted, value);
  return quoted.substr(1, quoted.size() - 2);
}

std::string seal_text(std::string_view text, const std::vector<ResolvedSecret>& secrets) {
  const std::vector<Candidate> forms = candidates(secrets);
  std::array<bool, 256> starts{};  // first bytes of the forms: most positions try none
  for (const Candidate& c : forms) starts[static_cast<unsigned char>(c.text.front())] = true;

  std::string sealed;
  sealed.reserve(text.size() + 16);
  for (std::size_t i = 0; i < text.size();) {
    if (starts[static_cast<unsigned char>(text[i])]) {
      const auto hit = std::find_if(forms.begin(), forms.end(), [&](const Candidate& c) {
        return text.substr(i).starts_with(c.text);
      });
      if (hit != forms.end()) {
        sealed.append("${").append(hit->name).append(suffix(hit->form)).push_back('}');
        i += hit->text.size();
        continue;
      }
    }
    if (text[i] == '$') sealed.push_back('$');
    sealed.push_back(text[i]);
    ++i;
  }
  if (is_valid_utf8(sealed)) return sealed;

  // Bytes that are not UTF-8 (in the text, or a character a secret's reference cut in two)
  // cannot sit in a JSON string: each is written $xHH. ASCII is always well-formed, so no `$`
  // written above is touched.
  std::string out;
  out.reserve(sealed.size() + 16);
  for (std::size_t i = 0; i < sealed.size();) {
    const std::size_t n = utf8_sequence_length(sealed, i);
    if (n > 0) {
      out.append(sealed, i, n);
      i += n;
      continue;
    }
    const auto u = static_cast<unsigned char>(sealed[i]);
    out.append("$x").push_back(kUpperHex[u >> 4]);
    out.push_back(kUpperHex[u & 15]);
    ++i;
  }
  return out;
}

bool unseal_text(std::string_view text, const std::vector<ResolvedSecret>& secrets,
                 std::string& out, UnsealProblem& problem) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t dollar = text.find('$', i);
    if (dollar == std::string_view::npos) break;
    out.append(text.substr(i, dollar - i));
    i = dollar;
    if (i + 1 >= text.size()) return malformed(problem, i, "a lone $ at the end");
    const char next = text[i + 1];
    if (next == '$') {
      out.push_back('$');
      i += 2;
      continue;
    }
    if (next == 'x') {
      const int high = i + 3 < text.size() ? hex_digit(text[i + 2]) : -1;
      const int low = i + 3 < text.size() ? hex_digit(text[i + 3]) : -1;
      if (high < 8 || low < 0) {
        return malformed(problem, i, "$x is followed by two upper-case hex digits from 80 to FF");
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 4;
      continue;
    }
    if (next != '{') return malformed(problem, i, "a $ that is not $$, ${NAME} or $xHH");
    const std::size_t name_at = i + 2;
    std::size_t end = name_at;
    while (end < text.size() && is_name_char(text[end], end == name_at)) ++end;
    if (end == name_at) return malformed(problem, i, "${ is not followed by a secret's name");
    const std::string_view name = text.substr(name_at, end - name_at);
    Form form = Form::raw;
    const std::string_view rest = text.substr(end);
    if (rest.starts_with(":pct}")) {
      form = Form::pct;
    } else if (rest.starts_with(":json}")) {
      form = Form::json;
    } else if (!rest.starts_with("}")) {
      return malformed(problem, i, "a reference is ${NAME}, ${NAME:pct} or ${NAME:json}");
    }
    const std::string* value = secret_value(secrets, name);
    if (value == nullptr) {
      problem.code = "missing_secret";
      problem.message =
          "references the secret " + std::string(name) + ", which the config does not set";
      return false;
    }
    out += form_of(*value, form);
    i = end + suffix(form).size() + 1;
  }
  out.append(text.substr(std::min(i, text.size())));
  return true;
}

void write_delivery(JsonWriter& w, const Delivery& d) {
  w.begin_object();
  w.key("route").string(d.route).key("destination").string(d.destination);
  w.key("method").string(d.method).key("url").string(d.url);
  w.key("headers").begin_array();
  for (const HttpHeader& h : d.headers) w.begin_array().string(h.name).string(h.value).end_array();
  w.end_array();
  w.key("body").string(d.body).key("idempotency_key").string(d.idempotency_key);
  w.key("timeout_ms").number(d.timeout_ms);
  w.key("call_sid").string(d.call_sid).key("record_key").string(d.record_key);
  w.key("trigger").string(d.trigger);
  // Only when there is one: most deliveries have no deadline, and texts written before it
  // existed read the same.
  if (d.not_after_ms != 0) w.key("not_after_ms").number(d.not_after_ms);
  w.end_object();
}

}  // namespace detail

namespace {

using nlohmann::json;

// The names a delivery carries as they are: config names and the call's Sid, never resolved
// from secrets. Always valid UTF-8 in practice; anything else is replaced so the text stays JSON.
std::string plain(std::string_view text) {
  if (detail::is_valid_utf8(text)) return std::string(text);
  std::string out;
  detail::append_utf8_replacing(out, text);
  return out;
}

// A string member of `doc`, or false with `problem`.
bool text_member(const json& doc, const char* key, std::string& into, std::string& problem) {
  const auto it = doc.find(key);
  if (it == doc.end() || !it->is_string()) {
    problem = std::string(key) + " must be a string";
    return false;
  }
  into = it->get<std::string>();
  return true;
}

// An optional string member: absent leaves `into` as it is.
bool optional_text(const json& doc, const char* key, std::string& into, bool& present,
                   std::string& problem) {
  const auto it = doc.find(key);
  present = it != doc.end();
  if (!present) return true;
  return text_member(doc, key, into, problem);
}

// What fired a delivery, from the middle of its idempotency key (Call.Sid:what:route).
std::string_view trigger_of(std::string_view what) {
  if (what == "complete" || what == "abandoned") return what;
  if (parse_event(what)) return "event";
  return {};
}

// `call_sid`, `record_key` and `trigger`. Deliveries written before they existed lack them: the
// Call.Sid and the trigger are then read from the idempotency key, which is always
// `Call.Sid:what:route` (`what` holds no `:`, a Call.Sid may), and the record key stays "".
bool read_belongs_to(const json& doc, Delivery& d, std::string& problem) {
  bool has_sid = false;
  bool has_key = false;
  bool has_trigger = false;
  if (!optional_text(doc, "call_sid", d.call_sid, has_sid, problem) ||
      !optional_text(doc, "record_key", d.record_key, has_key, problem) ||
      !optional_text(doc, "trigger", d.trigger, has_trigger, problem)) {
    return false;
  }
  if (has_sid && has_trigger) return true;
  const std::string suffix = ":" + d.route;
  if (!std::string_view(d.idempotency_key).ends_with(suffix)) return true;
  const std::string_view head =
      std::string_view(d.idempotency_key).substr(0, d.idempotency_key.size() - suffix.size());
  const auto colon = head.rfind(':');
  if (colon == std::string_view::npos) return true;
  const std::string_view trigger = trigger_of(head.substr(colon + 1));
  if (trigger.empty()) return true;
  if (!has_sid) d.call_sid = std::string(head.substr(0, colon));
  if (!has_trigger) d.trigger = std::string(trigger);
  return true;
}

// The members both forms share; headers as [[name, value], ..] (or, plain only, an object).
bool read_delivery(const json& doc, bool sealed, Delivery& d, std::string& problem) {
  if (!doc.is_object()) {
    problem = "a delivery is a JSON object";
    return false;
  }
  if (!text_member(doc, "route", d.route, problem) ||
      !text_member(doc, "destination", d.destination, problem) ||
      !text_member(doc, "method", d.method, problem) || !text_member(doc, "url", d.url, problem) ||
      !text_member(doc, "body", d.body, problem) ||
      !text_member(doc, "idempotency_key", d.idempotency_key, problem)) {
    return false;
  }
  const auto headers = doc.find("headers");
  if (headers != doc.end() && headers->is_object() && !sealed) {
    for (const auto& [name, value] : headers->items()) {
      if (!value.is_string()) {
        problem = "header " + name + " must be a string";
        return false;
      }
      d.headers.push_back({name, value.get<std::string>()});
    }
  } else if (headers != doc.end() && headers->is_array()) {
    for (const json& pair : *headers) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
        problem = "headers must be [name, value] string pairs";
        return false;
      }
      d.headers.push_back({pair[0].get<std::string>(), pair[1].get<std::string>()});
    }
  } else {
    problem = sealed ? "headers must be [[name, value], ..]"
                     : "headers must be [[name, value], ..] or an object of strings";
    return false;
  }
  const auto timeout = doc.find("timeout_ms");
  if (timeout != doc.end() || sealed) {
    if (timeout == doc.end() || !timeout->is_number_integer() || timeout->get<std::int64_t>() < 0) {
      problem = "timeout_ms must be a whole number of milliseconds";
      return false;
    }
    d.timeout_ms = timeout->get<std::int64_t>();
  }
  // Absent in deliveries without a deadline and in those written before deadlines existed.
  if (const auto deadline = doc.find("not_after_ms"); deadline != doc.end()) {
    if (!deadline->is_number_integer() || deadline->get<std::int64_t>() < 0) {
      problem = "not_after_ms must be a whole number of milliseconds since the Unix epoch";
      return false;
    }
    d.not_after_ms = deadline->get<std::int64_t>();
  }
  return read_belongs_to(doc, d, problem);
}

}  // namespace

void write_delivery_json(const Delivery& delivery, std::string& out) {
  JsonWriter w(out);
  detail::write_delivery(w, delivery);
}

std::optional<Delivery> parse_delivery_json(std::string_view text, std::string& problem) {
  const json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) {
    problem = "the delivery is not valid JSON";
    return std::nullopt;
  }
  Delivery d;
  if (!read_delivery(doc, false, d, problem)) return std::nullopt;
  return d;
}

std::string Engine::seal(const Delivery& d) const {
  const std::vector<ResolvedSecret>& secrets = config_.secrets;
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("sealed").number(1);
  w.key("route").string(plain(d.route)).key("destination").string(plain(d.destination));
  w.key("method").string(detail::seal_text(d.method, secrets));
  w.key("url").string(detail::seal_text(d.url, secrets));
  w.key("headers").begin_array();
  for (const HttpHeader& h : d.headers) {
    w.begin_array().string(plain(h.name)).string(detail::seal_text(h.value, secrets)).end_array();
  }
  w.end_array();
  w.key("body").string(detail::seal_text(d.body, secrets));
  w.key("idempotency_key").string(plain(d.idempotency_key));
  w.key("timeout_ms").number(d.timeout_ms);
  // Names as the idempotency key is: the call's own identifiers and the route's trigger.
  w.key("call_sid").string(plain(d.call_sid)).key("record_key").string(plain(d.record_key));
  w.key("trigger").string(plain(d.trigger));
  if (d.not_after_ms != 0) w.key("not_after_ms").number(d.not_after_ms);
  w.end_object();
  return out;
}

Unsealed Engine::unseal(std::string_view sealed) const {
  Unsealed result;
  const auto fail = [&](std::string code, std::string message) {
    result.error = {std::move(code), std::move(message)};
    return result;
  };
  const json doc = json::parse(sealed.begin(), sealed.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return fail("bad_sealed", "A sealed delivery is one JSON object; this is not.");
  }
  const auto version = doc.find("sealed");
  if (version == doc.end() || !version->is_number_integer() || version->get<std::int64_t>() != 1) {
    return fail("bad_sealed", "A sealed delivery starts {\"sealed\": 1, ...}; this does not.");
  }
  Delivery d;
  std::string problem;
  if (!read_delivery(doc, true, d, problem)) {
    return fail("bad_sealed", "The sealed delivery is not well formed: " + problem + ".");
  }
  const auto open = [&](std::string& text, const std::string& where) {
    std::string out;
    detail::UnsealProblem p;
    if (!detail::unseal_text(text, config_.secrets, out, p)) {
      fail(p.code, p.code == "missing_secret"
                       ? "The delivery's " + where + " " + p.message + " (any more)."
                       : "The delivery's " + where + " is not sealed text: " + p.message + ".");
      return false;
    }
    text = std::move(out);
    return true;
  };
  if (!open(d.method, "method") || !open(d.url, "url")) return result;
  for (HttpHeader& h : d.headers) {
    if (!open(h.value, "header " + h.name)) return result;
  }
  if (!open(d.body, "body")) return result;
  result.delivery = std::move(d);
  return result;
}

}  // namespace callhook
