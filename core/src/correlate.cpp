#include "callhook/correlate.h"

#include <algorithm>

#include "json_writer.h"

namespace callhook {
namespace {

using nlohmann::json;

// Records are read in document order, so an event written back (write_record) or rendered
// again (Engine::rerender) keeps the canonical event's key order.
using ordered_json = nlohmann::ordered_json;

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

void write_seen(JsonWriter& w, const std::optional<SeenEvent>& seen) {
  if (!seen) {
    w.null();
    return;
  }
  w.begin_object().key("received_at").number(seen->received_at);
  w.key("event").raw(seen->event).end_object();
}

json parse_event_text(const std::string& text) {
  json event = json::parse(text, nullptr, false);
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

std::optional<CallRecord> parse_record(std::string_view text, std::string& problem) {
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
  json conflicts = json::array();
  json view = json::object();
  if (record.complete) {
    view = parse_event_text(record.complete->event);
    if (record.initiate) {
      std::string path;
      merge_into(view, parse_event_text(record.initiate->event), path, conflicts);
    }
  } else if (record.initiate) {
    view = parse_event_text(record.initiate->event);
  }
  view["correlation"] = correlation_facts(record, conflicts);
  return view;
}

}  // namespace callhook
