// Erasure matching (callhook/erasure.h): which stored texts concern a call or a caller's number.
// Records are read precisely; other texts are searched for every form the number takes where
// the core writes it (JSON, URLs, hashes for ad platforms).
#include "callhook/erasure.h"

#include <array>
#include <nlohmann/json.hpp>

#include "callhook/correlate.h"
#include "callhook/engine.h"
#include "crypto.h"

namespace callhook {
namespace {

using nlohmann::json;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_separator(char c) {
  return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '\t';
}

std::string upper(std::string text) {
  for (char& c : text) {
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  }
  return text;
}

// `needle` occurs in `text` at `at` with no letter or digit on either side.
bool whole_word_at(std::string_view text, std::size_t at, std::size_t length) {
  const bool before_ok = at == 0 || !is_alnum(text[at - 1]);
  const bool after_ok = at + length >= text.size() || !is_alnum(text[at + length]);
  return before_ok && after_ok;
}

bool contains_word(std::string_view text, std::string_view word) {
  if (word.empty()) return false;
  for (auto at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1)) {
    if (whole_word_at(text, at, word.size())) return true;
  }
  return false;
}

// Every form of one E.164 number that stored text may hold.
struct PhoneForms {
  std::string digits;                 // 14155550123
  std::array<std::string, 4> hashes;  // SHA-256 hex of +digits and of digits, lower and upper
};

std::optional<PhoneForms> forms_of(std::string_view e164) {
  if (e164.size() < 8 || e164.size() > 16 || e164.front() != '+') return std::nullopt;
  PhoneForms forms;
  forms.digits = std::string(e164.substr(1));
  for (const char c : forms.digits) {
    if (!is_digit(c)) return std::nullopt;
  }
  const std::string with_plus = crypto::hex_encode(crypto::sha256(e164));
  const std::string digits_only = crypto::hex_encode(crypto::sha256(forms.digits));
  forms.hashes = {with_plus, upper(with_plus), digits_only, upper(digits_only)};
  return forms;
}

// The digits at `at` are the number: not followed by a letter or digit (a longer number, a
// word), and after `+`, `%2B`, `\u002B`, or anything that is not a letter or digit.
bool number_at(std::string_view text, std::size_t at, std::size_t length) {
  if (at + length < text.size() && is_alnum(text[at + length])) return false;
  if (at == 0 || !is_alnum(text[at - 1])) return true;
  const std::string_view before = text.substr(0, at);
  return before.ends_with("%2B") || before.ends_with("%2b") || before.ends_with("\\u002B") ||
         before.ends_with("\\u002b");
}

bool text_mentions_phone(std::string_view text, const PhoneForms& forms) {
  const std::string& d = forms.digits;
  for (auto at = text.find(d); at != std::string_view::npos; at = text.find(d, at + 1)) {
    if (number_at(text, at, d.size())) return true;
  }
  for (const std::string& hash : forms.hashes) {
    if (text.find(hash) != std::string_view::npos) return true;
  }
  return false;
}

const json* member(const json& doc, const char* key) {
  if (!doc.is_object()) return nullptr;
  const auto it = doc.find(key);
  return it == doc.end() ? nullptr : &*it;
}

const std::string* string_member(const json& doc, const char* key) {
  const json* value = member(doc, key);
  return value != nullptr && value->is_string() ? &value->get_ref<const std::string&>() : nullptr;
}

// Every string of a canonical event but the business's own numbers.
bool event_mentions_phone(const json& value, const PhoneForms& forms, std::string_view path) {
  if (path == "call.to.number" || path == "call.endpoint") return false;
  if (value.is_string()) return text_mentions_phone(value.get_ref<const std::string&>(), forms);
  if (value.is_array()) {
    for (const json& item : value) {
      if (event_mentions_phone(item, forms, path)) return true;
    }
    return false;
  }
  if (!value.is_object()) return false;
  for (const auto& [key, item] : value.items()) {
    const std::string inner = path.empty() ? key : std::string(path) + "." + key;
    if (event_mentions_phone(item, forms, inner)) return true;
  }
  return false;
}

bool record_mentions(const CallRecord& record, const ErasureSubject& subject,
                     const std::optional<PhoneForms>& phone) {
  bool any_event = false;
  for (const std::optional<SeenEvent>* seen : {&record.initiate, &record.complete}) {
    if (!seen->has_value()) continue;
    const json event = json::parse((*seen)->event, nullptr, false);
    if (!event.is_object()) continue;
    any_event = true;
    const json* call = member(event, "call");
    const std::string* sid = call != nullptr ? string_member(*call, "sid") : nullptr;
    if (!subject.call_sid.empty() && sid != nullptr && *sid == subject.call_sid) return true;
    if (phone && event_mentions_phone(event, *phone, "")) return true;
  }
  // A record with no readable event still names its call in its key (Account.Sid:Call.Sid).
  return !any_event && !subject.call_sid.empty() &&
         std::string_view(record.key).ends_with(":" + subject.call_sid);
}

// The Call.Sid a delivery without `call_sid` belongs to, from its idempotency key
// (Call.Sid:what:route, where `what` holds no `:`).
std::string call_sid_of_key(std::string_view key, std::string_view route) {
  const std::string suffix = ":" + std::string(route);
  if (!key.ends_with(suffix)) return {};
  const std::string_view head = key.substr(0, key.size() - suffix.size());
  const auto colon = head.rfind(':');
  return colon == std::string_view::npos ? std::string() : std::string(head.substr(0, colon));
}

bool text_mentions_call(std::string_view text, const json& doc, std::string_view call_sid) {
  if (const std::string* sid = string_member(doc, "call_sid"); sid != nullptr && !sid->empty()) {
    return *sid == call_sid;
  }
  const std::string* key = string_member(doc, "idempotency_key");
  const std::string* route = string_member(doc, "route");
  if (key != nullptr && route != nullptr) {
    const std::string sid = call_sid_of_key(*key, *route);
    if (!sid.empty()) return sid == call_sid;
  }
  return contains_word(text, call_sid);
}

}  // namespace

std::optional<std::string> normalize_phone(std::string_view text, std::string& problem) {
  std::string_view rest = text;
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.remove_suffix(1);
  if (rest.starts_with("tel:")) rest.remove_prefix(4);
  if (rest.empty()) {
    problem = "the phone number is empty";
    return std::nullopt;
  }
  if (rest.front() != '+') {
    problem =
        "the phone number must be in international form with its country code after a +, like "
        "+14155550123 (a number without + cannot be told from a national one)";
    return std::nullopt;
  }
  std::string e164 = "+";
  for (const char c : rest.substr(1)) {
    if (is_digit(c)) {
      e164.push_back(c);
    } else if (!is_separator(c)) {
      problem =
          "the phone number holds a character other than digits, spaces, -, ., ( and ) "
          "after its +";
      return std::nullopt;
    }
  }
  const std::size_t digits = e164.size() - 1;
  if (digits < 7 || digits > 15) {
    problem = "the phone number has " + std::to_string(digits) +
              " digits; an E.164 number has 7 to 15, its country code included";
    return std::nullopt;
  }
  if (e164[1] == '0') {
    problem = "the phone number's country code cannot start with 0 (write +44..., not +044...)";
    return std::nullopt;
  }
  return e164;
}

std::optional<ErasureSubject> erasure_subject(std::string_view call_sid, std::string_view phone,
                                              ErasureProblem& problem) {
  if (call_sid.empty() && phone.empty()) {
    problem = {"empty_subject", "name the call (its Call.Sid) or the caller's phone number"};
    return std::nullopt;
  }
  ErasureSubject subject;
  subject.call_sid = std::string(call_sid);
  if (!phone.empty()) {
    std::string why;
    auto e164 = normalize_phone(phone, why);
    if (!e164) {
      problem = {"bad_phone", why};
      return std::nullopt;
    }
    subject.phone = std::move(*e164);
  }
  return subject;
}

bool mentions(std::string_view text, const ErasureSubject& subject) {
  const std::optional<PhoneForms> phone =
      subject.phone.empty() ? std::nullopt : forms_of(subject.phone);
  if (subject.call_sid.empty() && !phone) return false;
  const json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_object() && member(doc, "format") != nullptr && string_member(doc, "key") != nullptr &&
      (member(doc, "initiate") != nullptr || member(doc, "complete") != nullptr)) {
    std::string why;
    if (const auto record = parse_record(text, why))
      return record_mentions(*record, subject, phone);
  }
  if (!subject.call_sid.empty() && text_mentions_call(text, doc, subject.call_sid)) return true;
  return phone && text_mentions_phone(text, *phone);
}

bool Engine::mentions(std::string_view text, const ErasureSubject& subject) const {
  return callhook::mentions(text, subject);
}

}  // namespace callhook
