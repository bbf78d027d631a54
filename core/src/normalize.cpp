#include "callhook/normalize.h"

#include <array>
#include <charconv>
#include <nlohmann/json.hpp>
#include <vector>

#include "json_writer.h"
#include "value_formats.h"

namespace callhook {
namespace {

// Splits "a.b.c" into its parent "a.b" and leaf "c".
std::pair<std::string_view, std::string_view> split_leaf(std::string_view path) {
  const std::size_t dot = path.rfind('.');
  if (dot == std::string_view::npos) return {{}, path};
  return {path.substr(0, dot), path.substr(dot + 1)};
}

// The number of dotted segments in `path` (0 for the root, "").
std::size_t depth_of(std::string_view path) {
  if (path.empty()) return 0;
  std::size_t depth = 1;
  for (const char c : path) depth += c == '.' ? 1 : 0;
  return depth;
}

// The objects of the canonical event, worked out once from the spec table: every object a value
// sits in, and the JSON text that leads from one to another (closing and opening objects, then
// the comma), so that writing a value costs two appends and a value, not a walk over its path.
class Layout {
 public:
  static const Layout& get() {
    static const Layout layout;
    return layout;
  }

  [[nodiscard]] std::size_t parent_of(std::size_t row) const { return row_parent_[row]; }
  /// The row's key, quoted, with the colon: `"leaf":`, and `,"leaf":` after a sibling.
  [[nodiscard]] std::string_view key_of(std::size_t row) const {
    return std::string_view(row_key_[row]).substr(1);
  }
  [[nodiscard]] const std::string& key_after_sibling(std::size_t row) const {
    return row_key_[row];
  }
  [[nodiscard]] std::size_t custom_dimensions() const { return custom_dimensions_; }
  [[nodiscard]] std::size_t extra() const { return extra_; }
  /// The start, before anything is written: a state of its own (no comma to write).
  [[nodiscard]] std::size_t start() const { return parents_.size(); }
  /// The text that leads from the object `from` (or start()) to the next key in `to`.
  [[nodiscard]] const std::string& move(std::size_t from, std::size_t to) const {
    return moves_[from * parents_.size() + to];
  }
  [[nodiscard]] std::size_t depth(std::size_t parent) const {
    return parent == start() ? 0 : depth_of(parents_[parent]);
  }

 private:
  Layout() {
    parents_.emplace_back();  // the root
    const auto rows = spec_fields();
    for (std::size_t row = 0; row < rows.size(); ++row) {
      const auto [parent, leaf] = split_leaf(rows[row].canonical_path);
      row_parent_[row] = intern(parent);
      row_key_[row] = ",\"" + std::string(leaf) + "\":";
    }
    custom_dimensions_ = intern(kCustomDimensionPath);
    extra_ = intern("extra");
    for (std::size_t from = 0; from <= parents_.size(); ++from) {
      for (std::size_t to = 0; to < parents_.size(); ++to) {
        moves_.push_back(from == parents_.size() ? path_move({}, parents_[to], false)
                                                 : path_move(parents_[from], parents_[to], true));
      }
    }
  }

  std::size_t intern(std::string_view path) {
    for (std::size_t i = 0; i < parents_.size(); ++i) {
      if (parents_[i] == path) return i;
    }
    parents_.emplace_back(path);
    return parents_.size() - 1;
  }

  // Closes the objects of `from` down to the part it shares with `to`, opens the rest of `to`,
  // and ends with the comma the next key needs (none right after an opening brace).
  static std::string path_move(std::string_view from, std::string_view to, bool comma) {
    const auto segments = [](std::string_view path) {
      std::vector<std::string_view> parts;
      std::size_t pos = 0;
      while (pos < path.size()) {
        std::size_t dot = path.find('.', pos);
        if (dot == std::string_view::npos) dot = path.size();
        parts.push_back(path.substr(pos, dot - pos));
        pos = dot + 1;
      }
      return parts;
    };
    const auto a = segments(from);
    const auto b = segments(to);
    std::size_t common = 0;
    while (common < a.size() && common < b.size() && a[common] == b[common]) ++common;
    std::string text;
    for (std::size_t i = common; i < a.size(); ++i) {
      text.push_back('}');
      comma = true;
    }
    for (std::size_t i = common; i < b.size(); ++i) {
      if (comma) text.push_back(',');
      append_json_string(text, b[i]);
      text.append(":{");
      comma = false;
    }
    if (comma) text.push_back(',');
    return text;
  }

  std::vector<std::string> parents_;
  std::array<std::size_t, kMaxSpecFields> row_parent_{};
  std::array<std::string, kMaxSpecFields> row_key_;
  std::size_t custom_dimensions_ = 0;
  std::size_t extra_ = 0;
  std::vector<std::string> moves_;
};

// Writes the canonical event's members in one pass, grouped by the object they sit in (as the
// spec table orders them), through the layout's precomputed moves.
class NestedEmitter {
 public:
  explicit NestedEmitter(std::string& out)
      : out_(out), layout_(Layout::get()), at_(layout_.start()) {
    out_.push_back('{');
  }

  /// Writes the key of `row` in its object; the caller then writes the value to out().
  std::string& row(std::size_t row) {
    const std::size_t parent = layout_.parent_of(row);
    if (parent == at_) {
      out_.append(layout_.key_after_sibling(row));
    } else {
      out_.append(layout_.move(at_, parent));
      at_ = parent;
      out_.append(layout_.key_of(row));
    }
    return out_;
  }
  /// Writes `"anonymous":`, beside the value just written.
  std::string& anonymous() {
    out_.append(",\"anonymous\":");
    return out_;
  }
  /// Writes `key` (any text) in the object `parent`.
  std::string& key(std::size_t parent, std::string_view key) {
    go(parent);
    append_json_string(out_, key);
    out_.push_back(':');
    return out_;
  }

  void finish() {
    out_.append(layout_.depth(at_), '}');
    out_.push_back('}');
  }

 private:
  void go(std::size_t parent) {
    if (parent == at_) {
      out_.push_back(',');
      return;
    }
    out_.append(layout_.move(at_, parent));
    at_ = parent;
  }

  std::string& out_;
  const Layout& layout_;
  std::size_t at_;
};

void write_list(std::string& out, std::string_view value) {
  JsonWriter w(out);
  w.begin_array();
  std::size_t pos = 0;
  while (pos <= value.size()) {
    std::size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view item = value.substr(pos, comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) w.string(item);
    pos = comma + 1;
  }
  w.end_array();
}

void append_int(std::string& out, std::int64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  (void)ec;
  out.append(digits, end);
}

void write_value(NestedEmitter& emit, std::size_t row, const FieldSpec& spec,
                 std::string_view value) {
  std::string& out = emit.row(row);
  if (value.empty()) {
    out.append("null");
    if (spec.type == FieldType::e164_or_anonymous) emit.anonymous().append("false");
    return;
  }
  switch (spec.type) {
    case FieldType::integer:
    case FieldType::non_negative_integer:
      append_int(out, detail::parse_int64(value).value_or(0));
      return;
    case FieldType::datetime:  // validated: digits and separators, nothing to escape
      out.push_back('"');
      detail::append_iso8601(out, value);
      out.push_back('"');
      return;
    case FieldType::comma_list:
      write_list(out, value);
      return;
    case FieldType::e164_or_anonymous: {
      const bool anonymous = value == "anonymous";
      if (anonymous) {
        out.append("null");
      } else {
        append_json_string(out, value);
      }
      emit.anonymous().append(anonymous ? "true" : "false");
      return;
    }
    case FieldType::text:
    case FieldType::identifier:
    case FieldType::e164:
    case FieldType::http_uri:
    case FieldType::enumeration:
      append_json_string(out, value);
      return;
  }
}

bool seen_before(const FieldList& fields, std::size_t i) {
  for (std::size_t j = 0; j < i; ++j) {
    if (fields.name(j) == fields.name(i)) return true;
  }
  return false;
}

void write_custom_dimensions(NestedEmitter& emit, const FieldList& fields) {
  const std::size_t parent = Layout::get().custom_dimensions();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto number = custom_dimension_number(fields.name(i));
    if (!number || seen_before(fields, i)) continue;
    const std::string_view value = fields.value(i);
    std::string& out = emit.key(parent, *number);
    if (value.empty()) {
      out.append("null");
    } else {
      append_json_string(out, value);
    }
  }
}

// The member of an Attribution or Session group that the group requires: when the group is sent
// without it (lenient mode lets that through), the event carries null in its place.
bool group_required(const FieldSpec& spec) {
  return (spec.group == Group::attribution || spec.group == Group::session) &&
         spec.initiate == Presence::required && spec.complete == Presence::required;
}

// Which groups arrived: any of their members was sent (as validate decides).
std::pair<bool, bool> groups_sent(const Report& report) {
  bool attribution = false;
  bool session = false;
  const auto rows = spec_fields();
  for (std::size_t row = 0; row < rows.size(); ++row) {
    if (report.slot[row] < 0) continue;
    attribution = attribution || rows[row].group == Group::attribution;
    session = session || rows[row].group == Group::session;
  }
  return {attribution, session};
}

void write_extra(NestedEmitter& emit, const FieldList& fields) {
  const std::size_t parent = Layout::get().extra();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const std::string_view name = fields.name(i);
    if (find_spec_field(name) || custom_dimension_number(name) || seen_before(fields, i)) continue;
    append_json_string(emit.key(parent, name), fields.value(i));
  }
}

}  // namespace

bool write_canonical_json(const FieldList& fields, const Report& report, std::string& out) {
  if (!report.valid) return false;
  NestedEmitter emit(out);
  const auto [attribution_sent, session_sent] = groups_sent(report);
  const auto rows = spec_fields();
  for (std::size_t row = 0; row < rows.size(); ++row) {
    const FieldSpec& spec = rows[row];
    if (!spec.canonical_path.empty()) {
      const std::int32_t slot = report.slot[row];
      const bool group_sent = spec.group == Group::attribution ? attribution_sent
                              : spec.group == Group::session   ? session_sent
                                                               : false;
      if (slot >= 0) {
        write_value(emit, row, spec, fields.value(static_cast<std::size_t>(slot)));
      } else if (spec.absent_is_null || (group_sent && group_required(spec))) {
        emit.row(row).append("null");
      }
    }
    if (row == custom_dimension_anchor() && report.custom_dimension_count > 0) {
      write_custom_dimensions(emit, fields);
    }
  }
  if (report.unknown_count > 0) write_extra(emit, fields);
  emit.finish();
  return true;
}

namespace {

using nlohmann::ordered_json;

ordered_json schema_for(const FieldSpec& spec) {
  ordered_json s;
  // A group's required members are null when lenient mode keeps a group sent incomplete.
  const bool nullable = spec.may_be_empty || spec.absent_is_null || group_required(spec);
  const auto typed = [&](std::string_view type) {
    if (nullable) {
      s["type"] = ordered_json::array({type, "null"});
    } else {
      s["type"] = type;
    }
  };
  switch (spec.type) {
    case FieldType::text:
      typed("string");
      break;
    case FieldType::identifier:
      typed("string");
      s["pattern"] = "^[!-~]+$";
      break;
    case FieldType::integer:
      typed("integer");
      break;
    case FieldType::non_negative_integer:
      typed("integer");
      s["minimum"] = 0;
      break;
    case FieldType::datetime:
      typed("string");
      s["format"] = "date-time";
      s["pattern"] = "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$";
      break;
    case FieldType::e164:
      typed("string");
      s["pattern"] = "^\\+[1-9][0-9]{1,14}$";
      break;
    case FieldType::e164_or_anonymous:
      s["type"] = ordered_json::array({"string", "null"});
      s["pattern"] = "^\\+[1-9][0-9]{1,14}$";
      break;
    case FieldType::http_uri:
      typed("string");
      s["format"] = "uri";
      break;
    case FieldType::enumeration: {
      typed("string");
      if (spec.enum_is_policy) {  // lenient mode lets other values through
        s["examples"] = ordered_json::array();
        for (const std::string_view v : spec.allowed) s["examples"].push_back(v);
        break;
      }
      ordered_json values = ordered_json::array();
      for (const std::string_view v : spec.allowed) values.push_back(v);
      if (nullable) values.push_back(nullptr);
      s["enum"] = values;
      break;
    }
    case FieldType::comma_list:
      if (nullable) {
        s["type"] = ordered_json::array({"array", "null"});
      } else {
        s["type"] = "array";
      }
      s["items"] = {{"type", "string"}};
      break;
  }
  s["description"] = std::string(spec.description) + " Sent as " + std::string(spec.name) + ".";
  if (group_required(spec)) {
    s["description"] = s["description"].get<std::string>() +
                       " Null when the group arrived without it or with it empty (lenient mode "
                       "keeps such a group).";
  }
  return s;
}

ordered_json& object_at(ordered_json& root, std::string_view parent) {
  ordered_json* node = &root;
  std::size_t pos = 0;
  while (pos < parent.size()) {
    std::size_t dot = parent.find('.', pos);
    if (dot == std::string_view::npos) dot = parent.size();
    const std::string key(parent.substr(pos, dot - pos));
    ordered_json& props = (*node)["properties"];
    if (!props.contains(key)) {
      props[key] = {{"type", "object"},
                    {"additionalProperties", false},
                    {"properties", ordered_json::object()}};
    }
    node = &props[key];
    pos = dot + 1;
  }
  return *node;
}

void add_required(ordered_json& node, const std::string& key) {
  ordered_json& required = node["required"];
  for (const auto& listed : required) {
    if (listed.is_string() && listed.get_ref<const std::string&>() == key) return;
  }
  required.push_back(key);
}

// Marks every segment of `path` as required in its parent.
void require_path(ordered_json& root, std::string_view path) {
  ordered_json* node = &root;
  std::size_t pos = 0;
  while (pos < path.size()) {
    std::size_t dot = path.find('.', pos);
    if (dot == std::string_view::npos) dot = path.size();
    const std::string key(path.substr(pos, dot - pos));
    add_required(*node, key);
    node = &(*node)["properties"][key];
    pos = dot + 1;
  }
}

}  // namespace

std::string canonical_event_schema() {
  ordered_json root = {
      {"$schema", "https://json-schema.org/draft/2020-12/schema"},
      {"$id", "urn:callhook:schema:call-event:1"},
      {"title", "callhook canonical call event"},
      {"description",
       "The typed, nested event callhook makes of one Voice Webhooks delivery. Generated from "
       "the spec table by `callhook schema event`."},
      {"type", "object"},
      {"additionalProperties", false},
      {"properties", ordered_json::object()},
      {"required", ordered_json::array()}};
  const auto rows = spec_fields();
  for (std::size_t row = 0; row < rows.size(); ++row) {
    const FieldSpec& spec = rows[row];
    if (!spec.canonical_path.empty()) {
      const auto [parent, leaf] = split_leaf(spec.canonical_path);
      ordered_json& node = object_at(root, parent);
      node["properties"][std::string(leaf)] = schema_for(spec);
      const bool always =
          (spec.initiate == Presence::required && spec.complete == Presence::required &&
           spec.group != Group::attribution && spec.group != Group::session) ||
          spec.absent_is_null;
      if (spec.type == FieldType::e164_or_anonymous) {
        node["properties"]["anonymous"] = {
            {"type", "boolean"},
            {"description", "True when " + std::string(spec.name) + " was anonymous."}};
        if (always) require_path(root, std::string(parent) + ".anonymous");
      }
      if (always) require_path(root, spec.canonical_path);
      const bool grouped = spec.group == Group::attribution || spec.group == Group::session;
      if (grouped && spec.initiate == Presence::required) add_required(node, std::string(leaf));
    }
    if (row == custom_dimension_anchor()) {
      const auto [parent, leaf] = split_leaf(kCustomDimensionPath);
      object_at(root, parent)["properties"][std::string(leaf)] = {
          {"type", "object"},
          {"description", std::string(kCustomDimensionPrefix) + "N, keyed by N."},
          {"patternProperties", {{"^[1-9][0-9]*$", {{"type", {"string", "null"}}}}}},
          {"additionalProperties", false}};
    }
  }
  root["properties"]["source"] = {
      {"type", "object"},
      {"description",
       "The config's source the webhook arrived through (/hook/NAME), when it names one."},
      {"additionalProperties", false},
      {"required", {"name", "sender"}},
      {"properties",
       {{"name", {{"type", "string"}}},
        {"sender", {{"enum", {"voice-webhooks", "twilio", "callrail", "ctm", "ringba"}}}}}}};
  root["properties"]["extra"] = {
      {"type", "object"},
      {"description",
       "Parameters the spec does not define, as sent (lenient mode), and a sender's fields that "
       "fill no parameter."},
      {"additionalProperties", {{"type", "string"}}}};
  return root.dump(2) + "\n";
}

namespace {

std::string_view presence_text(Presence presence, Group group) {
  switch (presence) {
    case Presence::required:
      return group == Group::attribution || group == Group::session ? "group" : "required";
    case Presence::optional:
      return "optional";
    case Presence::not_allowed:
      return "-";
  }
  return "-";
}

}  // namespace

std::string spec_fields_markdown() {
  std::string out =
      "| Parameter | Type | Call.Initiate | Call.Complete | Canonical path |\n"
      "|---|---|---|---|---|\n";
  const auto rows = spec_fields();
  const auto line = [&out](std::string_view name, std::string_view type, std::string_view initiate,
                           std::string_view complete, std::string_view path) {
    out.append("| `").append(name).append("` | ").append(type).append(" | ").append(initiate);
    out.append(" | ").append(complete).append(" | ").append(path).append(" |\n");
  };
  for (std::size_t row = 0; row < rows.size(); ++row) {
    const FieldSpec& spec = rows[row];
    std::string type(to_string(spec.type));
    if (spec.type == FieldType::enumeration) {
      type = "one of ";
      for (std::size_t i = 0; i < spec.allowed.size(); ++i) {
        type.append(i ? ", `" : "`").append(spec.allowed[i]).append("`");
      }
    }
    if (spec.may_be_empty) type += " (may be empty)";
    std::string path = spec.canonical_path.empty() ? std::string("(not carried)")
                                                   : "`" + std::string(spec.canonical_path) + "`";
    if (spec.type == FieldType::e164_or_anonymous) path += " + `call.from.anonymous`";
    line(spec.name, type, presence_text(spec.initiate, spec.group),
         presence_text(spec.complete, spec.group), path);
    if (row == custom_dimension_anchor()) {
      line("AnalyticsSession.CustomDimensionN", "string (may be empty)", "optional", "optional",
           "`" + std::string(kCustomDimensionPath) + ".N`");
    }
  }
  line("any other parameter", "string", "warning", "warning", "`extra.<name>` (lenient mode)");
  return out;
}

}  // namespace callhook
