#include "callhook/correlate.h"

#include <algorithm>
#include <string>
#include <vector>

#include "compact_json.h"
#include "correlation_view.h"
#include "json_writer.h"
#include "swar.h"
#include "text_util.h"
#include "utf8.h"

namespace callhook {
namespace {

using nlohmann::json;

// Records are read in document order, so an event written back (write_record) or rendered
// again (Engine::rerender) keeps the canonical event's key order.
using ordered_json = nlohmann::ordered_json;

CALLHOOK_COLD_BEGIN

bool read_seen(const ordered_json& doc, const char* name, std::optional<SeenEvent>& out,
               std::string& problem) {
  const auto it = doc.find(name);
  if (it == doc.end() || it->is_null()) return true;
  if (!it->is_object() || !it->contains("received_at") ||
      !(*it)["received_at"].is_number_integer() || !it->contains("event") ||
      !(*it)["event"].is_object()) {
    problem = std::string(name) + " must be {received_at, event}";
    return false;
  }
  out = SeenEvent{(*it)["received_at"].get<std::int64_t>(),
                  (*it)["event"].dump(-1, ' ', false, ordered_json::error_handler_t::replace)};
  return true;
}

CALLHOOK_COLD_END

void write_seen(JsonWriter& w, const std::optional<SeenEvent>& seen) {
  if (!seen) {
    w.null();
    return;
  }
  w.begin_object().key("received_at").number(seen->received_at);
  w.key("event").raw(seen->event).end_object();
}

json parse_event_text(const std::string& text) {
  json event = detail::parse_compact_json(text);
  return event.is_object() ? event : json::object();
}

// Fills `base` with what only `other` knows, recording where both hold different values.
void merge_into(json& base, const json& other, std::string& path, json& conflicts) {
  for (const auto& [key, value] : other.items()) {
    if (key == "event") continue;
    const std::size_t mark = path.size();
    path += path.empty() ? key : "." + key;
    auto it = base.find(key);
    if (it == base.end() || it->is_null()) {
      base[key] = value;
    } else if (it->is_object() && value.is_object()) {
      merge_into(*it, value, path, conflicts);
    } else if (!value.is_null() && *it != value) {
      conflicts.push_back({{"path", path}, {"initiate", value}, {"complete", *it}});
    }
    path.resize(mark);
  }
}

}  // namespace

namespace {

void touch(CallRecord& record, std::int64_t now, const CorrelationConfig& config) {
  ++record.version;
  record.expires_at = std::max(record.expires_at, now + config.retention_seconds);
  record.sweep_at.reset();
  if (record.initiate && !record.complete && !record.abandoned) {
    record.sweep_at = record.initiate->received_at + config.abandon_after_seconds;
  }
}

}  // namespace

Fold fold_event(CallRecord& record, EventType event, std::string canonical, std::int64_t now,
                const CorrelationConfig& config) {
  Fold fold;
  std::optional<SeenEvent>& slot = event == EventType::initiate ? record.initiate : record.complete;
  if (slot) {
    fold.duplicate = true;
    ++record.duplicates;
  } else {
    slot = SeenEvent{now, std::move(canonical)};
    fold.first_complete = event == EventType::complete;
  }
  // Retention counts from the last change, duplicates included.
  record.expires_at = 0;
  touch(record, now, config);
  return fold;
}

bool abandon_if_due(CallRecord& record, std::int64_t now, const CorrelationConfig& config) {
  if (!record.sweep_at || now < *record.sweep_at) return false;
  record.abandoned = true;
  touch(record, now, config);
  return true;
}

std::string record_key(std::string_view account_sid, std::string_view call_sid) {
  std::string key(account_sid);
  key += ':';
  key += call_sid;
  return key;
}

namespace {

// ---- reading a record by slicing its text -----------------------------------------------------
//
// A record callhook wrote is write_record's text, whose events are JSON that parsing and dumping
// gives back byte for byte. Such a record is read without a DOM: its events are sliced out of
// it. Any other text (hand-written, older, odd) takes the DOM path below, which says the same of
// every text the slicer takes.

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// A string at s[i] (a '"') that nlohmann dumps back as it is: valid UTF-8, no raw control bytes,
// and only the escapes dump() writes (\" \\ \b \f \n \r \t, \u00xx for other control bytes).
bool stable_string(std::string_view s, std::size_t& i) {
  ++i;
  while (i < s.size()) {
    // Plain ASCII, eight bytes at a time: no quote, backslash, control or non-ASCII byte.
    i = detail::skip_plain(s, i, [](std::uint64_t v) {
      return detail::less_lanes(v, 0x20) | detail::byte_lanes(v, '"') |
             detail::byte_lanes(v, '\\') | (v & detail::kHighs);
    });
    if (i >= s.size()) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      ++i;
      return true;
    }
    if (c < 0x20) return false;
    if (c == '\\') {
      if (i + 1 >= s.size()) return false;
      const char e = s[i + 1];
      if (e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
        i += 2;
        continue;
      }
      if (e != 'u' || i + 5 >= s.size() || s[i + 2] != '0' || s[i + 3] != '0' ||
          (s[i + 4] != '0' && s[i + 4] != '1') || !is_lower_hex(s[i + 5])) {
        return false;
      }
      const int low = s[i + 5] <= '9' ? s[i + 5] - '0' : s[i + 5] - 'a' + 10;
      const int code = (s[i + 4] - '0') * 16 + low;
      if (code == 0x08 || code == 0x09 || code == 0x0a || code == 0x0c || code == 0x0d) {
        return false;  // dump() writes these as \b \t \n \f \r
      }
      i += 6;
      continue;
    }
    if (c < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = detail::utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return false;
}

// An integer dump() writes the same way: no fraction or exponent, no "-0", at most 18 digits.
bool stable_number(std::string_view s, std::size_t& i) {
  const std::size_t start = i;
  if (i < s.size() && s[i] == '-') ++i;
  const std::size_t digits = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  const std::size_t count = i - digits;
  if (count == 0 || count > 18 || (s[digits] == '0' && count > 1)) return false;
  if (s[digits] == '0' && digits > start) return false;  // -0 dumps as 0
  return i >= s.size() || (s[i] != '.' && s[i] != 'e' && s[i] != 'E');
}

bool literal(std::string_view s, std::size_t& i, std::string_view word) {
  if (s.substr(i, word.size()) != word) return false;
  i += word.size();
  return true;
}

// A JSON value at s[i], without whitespace, that parsing and dumping gives back byte for byte
// (objects without repeated keys, whose order an ordered DOM keeps).
bool stable_value(std::string_view s, std::size_t& i, int depth) {
  if (i >= s.size() || depth > 256) return false;
  switch (s[i]) {
    case '"':
      return stable_string(s, i);
    case 't':
      return literal(s, i, "true");
    case 'f':
      return literal(s, i, "false");
    case 'n':
      return literal(s, i, "null");
    case '[':
      ++i;
      if (i < s.size() && s[i] == ']') {
        ++i;
        return true;
      }
      for (;;) {
        if (!stable_value(s, i, depth + 1) || i >= s.size()) return false;
        if (s[i] == ']') {
          ++i;
          return true;
        }
        if (s[i] != ',') return false;
        ++i;
      }
    case '{': {
      ++i;
      if (i < s.size() && s[i] == '}') {
        ++i;
        return true;
      }
      // The keys seen, as offsets into `s` (left uninitialised: zeroing 64 views cost more
      // than the check).
      std::size_t key_begin[64];
      std::size_t key_size[64];
      std::size_t key_count = 0;
      for (;;) {
        const std::size_t key_at = i;
        if (i >= s.size() || s[i] != '"' || !stable_string(s, i)) return false;
        const std::string_view key = s.substr(key_at, i - key_at);
        if (key_count == std::size(key_begin)) return false;  // a wide object: the DOM path
        for (std::size_t k = 0; k < key_count; ++k) {
          if (key_size[k] == key.size() && s.substr(key_begin[k], key_size[k]) == key) return false;
        }
        key_begin[key_count] = key_at;
        key_size[key_count++] = key.size();
        if (i >= s.size() || s[i] != ':') return false;
        ++i;
        if (!stable_value(s, i, depth + 1) || i >= s.size()) return false;
        if (s[i] == '}') {
          ++i;
          return true;
        }
        if (s[i] != ',') return false;
        ++i;
      }
    }
    default:
      return stable_number(s, i);
  }
}

bool sliced_integer(std::string_view s, std::size_t& i, std::int64_t& out) {
  const std::size_t start = i;
  if (!stable_number(s, i)) return false;
  const bool negative = s[start] == '-';
  std::int64_t value = 0;
  for (std::size_t k = negative ? start + 1 : start; k < i; ++k) value = value * 10 + (s[k] - '0');
  out = negative ? -value : value;
  return true;
}

bool sliced_seen(std::string_view s, std::size_t& i, std::optional<SeenEvent>& out) {
  if (literal(s, i, "null")) return true;
  SeenEvent seen;
  if (!literal(s, i, R"({"received_at":)") || !sliced_integer(s, i, seen.received_at) ||
      !literal(s, i, R"(,"event":)") || i >= s.size() || s[i] != '{') {
    return false;
  }
  const std::size_t start = i;
  if (!stable_value(s, i, 0)) return false;
  seen.event.assign(s.substr(start, i - start));
  if (!literal(s, i, "}")) return false;
  out = std::move(seen);
  return true;
}

// The record, when `text` is exactly what write_record writes for it; nullopt otherwise.
std::optional<CallRecord> slice_record(std::string_view s) {
  CallRecord r;
  std::size_t i = 0;
  if (!literal(s, i, R"({"format":1,"key":)") || i >= s.size() || s[i] != '"') return std::nullopt;
  const std::size_t key_at = i;
  if (!stable_string(s, i)) return std::nullopt;
  const std::string_view key = s.substr(key_at + 1, i - key_at - 2);
  if (key.find('\\') != std::string_view::npos) return std::nullopt;
  r.key.assign(key);
  bool abandoned = false;
  std::int64_t sweep_at = 0;
  if (!literal(s, i, R"(,"version":)") || !sliced_integer(s, i, r.version) ||
      !literal(s, i, R"(,"initiate":)") || !sliced_seen(s, i, r.initiate) ||
      !literal(s, i, R"(,"complete":)") || !sliced_seen(s, i, r.complete) ||
      !literal(s, i, R"(,"duplicates":)") || !sliced_integer(s, i, r.duplicates) ||
      !literal(s, i, R"(,"abandoned":)")) {
    return std::nullopt;
  }
  if (literal(s, i, "true")) {
    abandoned = true;
  } else if (!literal(s, i, "false")) {
    return std::nullopt;
  }
  r.abandoned = abandoned;
  if (!literal(s, i, R"(,"expires_at":)") || !sliced_integer(s, i, r.expires_at) ||
      !literal(s, i, R"(,"sweep_at":)")) {
    return std::nullopt;
  }
  if (!literal(s, i, "null")) {
    if (!sliced_integer(s, i, sweep_at)) return std::nullopt;
    r.sweep_at = sweep_at;
  }
  // Each piece was matched as write_record writes it (the key unescaped, integers in their one
  // spelling, events dump-stable), so writing the record gives this text back
  // (tests/core/record_slice_test.cpp holds it to that).
  if (!literal(s, i, "}") || i != s.size()) return std::nullopt;
  return r;
}

}  // namespace

std::optional<CallRecord> detail::slice_record_text(std::string_view text) {
  return slice_record(text);
}

namespace {

CALLHOOK_COLD_BEGIN  // a record callhook did not write (hand-made, older): rare

// parse_record for a text the slicer does not take, through a DOM.
std::optional<CallRecord> read_record_dom(std::string_view text, std::string& problem) {
  const ordered_json doc = ordered_json::parse(text.begin(), text.end(), nullptr, false);
  if (!doc.is_object()) {
    problem = "the record is not a JSON object";
    return std::nullopt;
  }
  if (doc.value("format", 0) != CallRecord::kFormat) {
    problem = "unknown record format";
    return std::nullopt;
  }
  CallRecord record;
  const auto integer = [&doc](const char* name, std::int64_t& out) {
    const auto it = doc.find(name);
    if (it == doc.end() || !it->is_number_integer()) return false;
    out = it->get<std::int64_t>();
    return true;
  };
  const auto key = doc.find("key");
  if (key == doc.end() || !key->is_string() || !integer("version", record.version) ||
      !integer("duplicates", record.duplicates) || !integer("expires_at", record.expires_at) ||
      !doc.contains("abandoned") || !doc["abandoned"].is_boolean()) {
    problem = "the record lacks key, version, duplicates, abandoned or expires_at";
    return std::nullopt;
  }
  record.key = key->get<std::string>();
  record.abandoned = doc["abandoned"].get<bool>();
  std::int64_t sweep_at = 0;
  if (integer("sweep_at", sweep_at)) record.sweep_at = sweep_at;
  if (!read_seen(doc, "initiate", record.initiate, problem) ||
      !read_seen(doc, "complete", record.complete, problem)) {
    return std::nullopt;
  }
  return record;
}

CALLHOOK_COLD_END

}  // namespace

std::optional<CallRecord> parse_record(std::string_view text, std::string& problem) {
  if (auto sliced = slice_record(text)) return sliced;
  return read_record_dom(text, problem);
}

std::string write_record(const CallRecord& record) {
  // Written directly: the events are already JSON text, so nothing is built or re-serialised.
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("format").number(CallRecord::kFormat).key("key").string(record.key);
  w.key("version").number(record.version).key("initiate");
  write_seen(w, record.initiate);
  w.key("complete");
  write_seen(w, record.complete);
  w.key("duplicates").number(record.duplicates).key("abandoned").boolean(record.abandoned);
  w.key("expires_at").number(record.expires_at).key("sweep_at");
  if (record.sweep_at) {
    w.number(*record.sweep_at);
  } else {
    w.null();
  }
  w.end_object();
  return out;
}

json correlation_facts(const CallRecord& record, const json& conflicts) {
  std::string_view state = "initiated";
  if (record.complete) {
    state = "completed";
  } else if (record.abandoned) {
    state = "abandoned";
  }
  json facts = {{"key", record.key},
                {"state", state},
                {"initiate_seen", record.initiate.has_value()},
                {"complete_seen", record.complete.has_value()},
                {"duplicates", record.duplicates},
                {"abandoned", record.abandoned},
                {"conflicts", conflicts}};
  facts["seconds_between_receipts"] =
      record.initiate && record.complete
          ? json(record.complete->received_at - record.initiate->received_at)
          : json(nullptr);
  return facts;
}

json merged_view(const CallRecord& record) {
  return detail::merged_view(record, nullptr, nullptr);
}

namespace detail {

namespace {

// What merge_into records as conflicts, without building the merged call (merge_into fills in
// only keys it has not compared yet, so what it compares is what `base` held before).
void find_conflicts(const json& base, const json& other, std::string& path, json& conflicts) {
  for (const auto& [key, value] : other.items()) {
    if (key == "event") continue;
    const std::size_t mark = path.size();
    path += path.empty() ? key : "." + key;
    const auto it = base.find(key);
    if (it == base.end() || it->is_null()) {
      // filled in from `other`: no conflict
    } else if (it->is_object() && value.is_object()) {
      find_conflicts(*it, value, path, conflicts);
    } else if (!value.is_null() && *it != value) {
      conflicts.push_back({{"path", path}, {"initiate", value}, {"complete", *it}});
    }
    path.resize(mark);
  }
}

// ---- conflicts read from the stored Initiate's text ----------------------------------------
//
// An Initiate in a record is JSON text as dump() writes it (no whitespace). Its conflicts with
// the Complete are found by walking that text against the Complete's document, so that only the
// values that differ are parsed, not the whole event.

// Moves i past the JSON value at s[i]; false when the text is not dump()'s JSON.
bool skip_dumped(std::string_view s, std::size_t& i, int depth) {
  if (i >= s.size() || depth > 256) return false;
  const char c = s[i];
  if (c == '"') {
    for (++i; i < s.size(); ++i) {
      if (s[i] == '\\') {
        ++i;
      } else if (s[i] == '"') {
        ++i;
        return true;
      }
    }
    return false;
  }
  if (c == '[' || c == '{') {
    const char close = c == '[' ? ']' : '}';
    ++i;
    if (i < s.size() && s[i] == close) {
      ++i;
      return true;
    }
    for (;;) {
      if (close == '}') {
        if (!skip_dumped(s, i, depth + 1) || i >= s.size() || s[i] != ':') return false;
        ++i;
      }
      if (!skip_dumped(s, i, depth + 1) || i >= s.size()) return false;
      if (s[i] == close) {
        ++i;
        return true;
      }
      if (s[i] != ',') return false;
      ++i;
    }
  }
  const std::size_t start = i;
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']') ++i;
  return i > start;
}

struct TextConflict {
  std::vector<std::string> path;  // its keys, compared key by key as the DOM's sorted maps order
  json initiate;
  json complete;
};

// The value s[start, end) parsed; discarded when it is not JSON.
json parse_slice(std::string_view s, std::size_t start, std::size_t end) {
  return json::parse(s.begin() + static_cast<std::ptrdiff_t>(start),
                     s.begin() + static_cast<std::ptrdiff_t>(end), nullptr, false);
}

// find_conflicts(base, other) with `other` the object at s[i] as text.
bool scan_conflicts(const json& base, std::string_view s, std::size_t& i,
                    std::vector<std::string>& path, std::vector<TextConflict>& found, int depth) {
  if (i >= s.size() || s[i] != '{' || depth > 256) return false;
  ++i;
  if (i < s.size() && s[i] == '}') {
    ++i;
    return true;
  }
  for (;;) {
    const std::size_t key_at = i;
    if (!skip_dumped(s, i, depth + 1) || s[key_at] != '"' || i >= s.size() || s[i] != ':') {
      return false;
    }
    std::string_view raw_key = s.substr(key_at + 1, i - key_at - 2);
    std::string key;
    if (raw_key.find('\\') == std::string_view::npos) {
      key.assign(raw_key);
    } else {
      const json parsed = parse_slice(s, key_at, i);
      if (!parsed.is_string()) return false;
      key = parsed.get<std::string>();
    }
    ++i;
    const std::size_t value_at = i;
    const auto it = key == "event" ? base.end() : base.find(key);
    if (it != base.end() && !it->is_null()) {
      if (it->is_object() && value_at < s.size() && s[value_at] == '{') {
        path.push_back(std::move(key));
        if (!scan_conflicts(*it, s, i, path, found, depth + 1)) return false;
        path.pop_back();
      } else {
        if (!skip_dumped(s, i, depth + 1)) return false;
        const std::string_view value = s.substr(value_at, i - value_at);
        const bool plain_string =
            value.size() >= 2 && value.front() == '"' && value.find('\\') == std::string_view::npos;
        if (plain_string) {
          if (!it->is_string() ||
              it->get_ref<const std::string&>() != value.substr(1, value.size() - 2)) {
            found.push_back({path, json(std::string(value.substr(1, value.size() - 2))), *it});
            found.back().path.push_back(std::move(key));
          }
        } else if (value != "null") {
          json parsed = parse_slice(s, value_at, i);
          if (parsed.is_discarded()) return false;
          if (parsed != *it) {
            found.push_back({path, std::move(parsed), *it});
            found.back().path.push_back(std::move(key));
          }
        }
      }
    } else if (!skip_dumped(s, i, depth + 1)) {
      return false;
    }
    if (i >= s.size()) return false;
    if (s[i] == '}') {
      ++i;
      return true;
    }
    if (s[i] != ',') return false;
    ++i;
  }
}

}  // namespace

bool conflicts_from_text(const json& complete, std::string_view initiate, json& conflicts) {
  std::vector<std::string> path;
  std::vector<TextConflict> found;
  std::size_t i = 0;
  if (!scan_conflicts(complete, initiate, i, path, found, 0) || i != initiate.size()) {
    return false;
  }
  // The DOM walk meets keys in sorted order, level by level: the same order, path by path. An
  // insertion sort: a call has few conflicts, and std::sort's code is 9 KB of wasm.
  for (std::size_t n = 1; n < found.size(); ++n) {
    for (std::size_t j = n; j > 0 && found[j].path < found[j - 1].path; --j) {
      std::swap(found[j], found[j - 1]);
    }
  }
  for (TextConflict& c : found) {
    std::string dotted;
    for (const std::string& key : c.path) {
      if (!dotted.empty()) dotted += '.';
      dotted += key;
    }
    conflicts.push_back({{"path", std::move(dotted)},
                         {"initiate", std::move(c.initiate)},
                         {"complete", c.complete}});
  }
  return true;
}

json merged_view(const CallRecord& record, const json* complete_doc, const json* initiate_doc) {
  json conflicts = json::array();
  json view = json::object();
  if (record.complete) {
    view = complete_doc != nullptr ? *complete_doc : parse_event_text(record.complete->event);
    if (record.initiate) {
      std::string path;
      if (initiate_doc != nullptr) {
        merge_into(view, *initiate_doc, path, conflicts);
      } else {
        merge_into(view, parse_event_text(record.initiate->event), path, conflicts);
      }
    }
  } else if (record.initiate) {
    view = initiate_doc != nullptr ? *initiate_doc : parse_event_text(record.initiate->event);
  }
  view["correlation"] = correlation_facts(record, conflicts);
  return view;
}

json merged_correlation(const CallRecord& record, const json* complete_doc,
                        const json* initiate_doc) {
  json conflicts = json::array();
  if (record.complete && record.initiate) {
    json parsed_complete;
    json parsed_initiate;
    if (complete_doc == nullptr) {
      parsed_complete = parse_event_text(record.complete->event);
      complete_doc = &parsed_complete;
    }
    if (initiate_doc == nullptr) {
      if (conflicts_from_text(*complete_doc, record.initiate->event, conflicts)) {
        return correlation_facts(record, conflicts);
      }
      conflicts = json::array();
      parsed_initiate = parse_event_text(record.initiate->event);
      initiate_doc = &parsed_initiate;
    }
    std::string path;
    find_conflicts(*complete_doc, *initiate_doc, path, conflicts);
  }
  return correlation_facts(record, conflicts);
}

}  // namespace detail

}  // namespace callhook
