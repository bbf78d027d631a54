// callhook replay --config NEW --compare OLD LOG.ndjson: what a config change would do to a day
// of webhooks. Both configs replay the same log on the same clock, each with its own records;
// their deliveries are matched by idempotency key and destination, so the report says, per route
// and destination, which deliveries the new config adds, removes and changes (with a diff of the
// first few), and which answers changed status. Everything printed goes through both engines'
// redact: no secret value (either config's) and no caller's number is ever in the report.
#include <algorithm>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "cli_io.h"
#include "commands.h"
#include "replay.h"

namespace callhook::cli {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr std::size_t kMaxBodyChanges = 50;  // per changed delivery
constexpr std::size_t kMaxTextLines = 40;
constexpr std::size_t kMaxShownValue = 160;  // bytes of a value in the human report

constexpr std::string_view kHelp =
    "Usage: callhook replay --config NEW --compare OLD [--now-from FIELD] [--diff-limit N]\n"
    "                       [--json] [--fail-on-change] LOG.ndjson\n\n"
    "Replays the log (the format callhook replay reads) through both configs, each with its\n"
    "own records, on the same clock, and reports per route and destination the deliveries\n"
    "NEW adds, removes and changes against OLD (a delivery is its idempotency key and\n"
    "destination), a diff of the first changes (per JSON Pointer for JSON bodies), and the\n"
    "answers whose status changed. Secrets come from the environment; the report holds\n"
    "none of their values (they show as ${NAME}) and no caller's number ([number]).\n\n"
    "  --now-from FIELD  the line's field holding the receipt time (default received_at)\n"
    "  --diff-limit N    how many changed, added, removed deliveries and status changes to\n"
    "                    show (default 5)\n"
    "  --json            one JSON document ({\"compare\": {...}}, described in the README)\n"
    "  --fail-on-change  exit 1 when anything differs (for CI)\n\n"
    "Exit status: 0 when the report was produced (1 with --fail-on-change when it shows a\n"
    "difference), 2 on bad usage, a bad config or an unreadable log. Lines of the log that\n"
    "cannot be read are skipped by both sides and listed in the report.\n";

// ---- what is printed: redacted -----------------------------------------------------------------

using Redact = std::function<std::string(std::string_view)>;

// A JSON value with every string (keys too) redacted; a number or literal whose text redact
// changes becomes that text as a string.
ordered_json redacted(const ordered_json& value, const Redact& redact) {
  if (value.is_string()) return redact(value.get_ref<const std::string&>());
  if (value.is_object()) {
    ordered_json out = ordered_json::object();
    for (const auto& [key, item] : value.items()) out[redact(key)] = redacted(item, redact);
    return out;
  }
  if (value.is_array()) {
    ordered_json out = ordered_json::array();
    for (const ordered_json& item : value) out.push_back(redacted(item, redact));
    return out;
  }
  const std::string text = value.dump();
  const std::string clean = redact(text);
  return clean == text ? value : ordered_json(clean);
}

// ---- one side's deliveries ----------------------------------------------------------------------

struct Seen {
  Delivery delivery;
  std::optional<std::size_t> line;  // the request that fired it; none for a sweep
  std::int64_t now = 0;
  std::size_t order = 0;
};

// Collects what one replayer fires, step by step.
class Collector final : public ReplayObserver {
 public:
  void on_request(std::size_t line, std::int64_t now, const Outcome& outcome) override {
    status = outcome.response.status;
    take(line, now, outcome);
  }
  void on_sweep(const std::string&, std::int64_t now, const Outcome& outcome) override {
    take(std::nullopt, now, outcome);
  }

  std::optional<int> status;  // of the request just handled
  std::vector<Seen> fresh;    // fired since the coordinator last looked
  std::size_t total = 0;

 private:
  void take(std::optional<std::size_t> line, std::int64_t now, const Outcome& outcome) {
    for (const Delivery& d : outcome.deliveries) fresh.push_back({d, line, now, total++});
  }
};

// ---- the difference of two deliveries ---------------------------------------------------------

struct FieldChange {
  std::string field;  // method, url, timeout_ms, header
  std::string name;   // the header's name
  ordered_json before;
  ordered_json after;  // null: absent
};

struct BodyChange {
  std::string pointer;
  std::optional<ordered_json> before;  // none: added
  std::optional<ordered_json> after;   // none: removed
};

struct Difference {
  std::vector<FieldChange> fields;
  bool body_changed = false;
  bool body_is_json = false;
  std::vector<BodyChange> body;    // JSON bodies
  std::vector<std::string> lines;  // other bodies: "- old line" / "+ new line"
  std::size_t more = 0;            // changes or lines left out
  [[nodiscard]] bool empty() const { return fields.empty() && !body_changed; }
};

std::string pointer_token(std::string_view key) {
  std::string out;
  for (const char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void diff_json(const ordered_json& a, const ordered_json& b, std::string& pointer,
               Difference& out) {
  const auto note = [&](std::optional<ordered_json> before, std::optional<ordered_json> after) {
    if (out.body.size() < kMaxBodyChanges) {
      out.body.push_back({pointer, std::move(before), std::move(after)});
    } else {
      ++out.more;
    }
  };
  const std::size_t mark = pointer.size();
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, value] : a.items()) {
      pointer += "/" + pointer_token(key);
      const auto it = b.find(key);
      if (it == b.end()) {
        note(value, std::nullopt);
      } else {
        diff_json(value, *it, pointer, out);
      }
      pointer.resize(mark);
    }
    for (const auto& [key, value] : b.items()) {
      if (a.contains(key)) continue;
      pointer += "/" + pointer_token(key);
      note(std::nullopt, value);
      pointer.resize(mark);
    }
    return;
  }
  if (a.is_array() && b.is_array()) {
    for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
      pointer += "/" + std::to_string(i);
      if (i >= b.size()) {
        note(a[i], std::nullopt);
      } else if (i >= a.size()) {
        note(std::nullopt, b[i]);
      } else {
        diff_json(a[i], b[i], pointer, out);
      }
      pointer.resize(mark);
    }
    return;
  }
  if (a != b) note(a, b);
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> out;
  for_each_log_line(text,
                    [&](std::size_t, std::string_view line, std::size_t) { out.push_back(line); });
  return out;
}

// A line diff (longest common subsequence), only the lines that differ; past a size where the
// table would be large, every line of each side.
void diff_text(std::string_view a, std::string_view b, Difference& out) {
  const auto x = split_lines(a);
  const auto y = split_lines(b);
  std::vector<std::string> lines;
  if (x.size() * y.size() <= 1'000'000) {
    std::vector<std::vector<std::uint32_t>> lcs(x.size() + 1,
                                                std::vector<std::uint32_t>(y.size() + 1, 0));
    for (std::size_t i = x.size(); i-- > 0;) {
      for (std::size_t j = y.size(); j-- > 0;) {
        lcs[i][j] = x[i] == y[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    std::size_t i = 0, j = 0;
    while (i < x.size() || j < y.size()) {
      if (i < x.size() && j < y.size() && x[i] == y[j]) {
        ++i;
        ++j;
      } else if (j < y.size() && (i == x.size() || lcs[i][j + 1] >= lcs[i + 1][j])) {
        lines.push_back("+ " + std::string(y[j++]));
      } else {
        lines.push_back("- " + std::string(x[i++]));
      }
    }
  } else {
    for (const auto line : x) lines.push_back("- " + std::string(line));
    for (const auto line : y) lines.push_back("+ " + std::string(line));
  }
  for (std::string& line : lines) {
    if (out.lines.size() < kMaxTextLines) {
      out.lines.push_back(std::move(line));
    } else {
      ++out.more;
    }
  }
}

// Headers by name, their values in order (a name may repeat).
std::vector<std::pair<std::string, std::vector<std::string>>> headers_by_name(
    const std::vector<HttpHeader>& headers) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const HttpHeader& h : headers) {
    auto it =
        std::find_if(out.begin(), out.end(), [&](const auto& e) { return e.first == h.name; });
    if (it == out.end()) {
      out.push_back({h.name, {}});
      it = out.end() - 1;
    }
    it->second.push_back(h.value);
  }
  return out;
}

ordered_json header_value(const std::vector<std::string>* values) {
  if (values == nullptr) return nullptr;
  if (values->size() == 1) return values->front();
  return ordered_json(*values);
}

Difference difference(const Delivery& a, const Delivery& b) {
  Difference out;
  if (a.method != b.method) out.fields.push_back({"method", "", a.method, b.method});
  if (a.url != b.url) out.fields.push_back({"url", "", a.url, b.url});
  if (a.timeout_ms != b.timeout_ms) {
    out.fields.push_back({"timeout_ms", "", a.timeout_ms, b.timeout_ms});
  }
  const auto ha = headers_by_name(a.headers);
  const auto hb = headers_by_name(b.headers);
  const auto find = [](const auto& list, const std::string& name) {
    const auto it =
        std::find_if(list.begin(), list.end(), [&](const auto& e) { return e.first == name; });
    return it == list.end() ? nullptr : &it->second;
  };
  for (const auto& [name, values] : ha) {
    const auto* other = find(hb, name);
    if (other == nullptr || *other != values) {
      out.fields.push_back({"header", name, header_value(&values), header_value(other)});
    }
  }
  for (const auto& [name, values] : hb) {
    if (find(ha, name) == nullptr) {
      out.fields.push_back({"header", name, nullptr, header_value(&values)});
    }
  }
  if (a.body != b.body) {
    out.body_changed = true;
    const ordered_json ja = ordered_json::parse(a.body, nullptr, false);
    const ordered_json jb = ordered_json::parse(b.body, nullptr, false);
    if (!ja.is_discarded() && !jb.is_discarded()) {
      out.body_is_json = true;
      std::string pointer;
      diff_json(ja, jb, pointer, out);
      // The same document written differently (key order, spacing): say so rather than nothing.
      if (out.body.empty() && out.more == 0) out.body_is_json = false;
    }
    if (!out.body_is_json) {
      out.body.clear();
      out.more = 0;
      diff_text(a.body, b.body, out);
    }
  }
  return out;
}

// ---- the comparison -----------------------------------------------------------------------------

struct Counts {
  std::size_t before = 0, after = 0, added = 0, removed = 0, changed = 0, unchanged = 0;
};

struct Changed {
  Seen after;
  Difference difference;
};

struct StatusChange {
  std::size_t line;
  int before;
  int after;
};

class Comparison {
 public:
  explicit Comparison(std::size_t diff_limit) : diff_limit_(diff_limit) {}

  // After each step: match what each side fired against what the other is still waiting with.
  void step(Collector& before, Collector& after) {
    for (Seen& s : before.fresh) take(std::move(s), false);
    for (Seen& s : after.fresh) take(std::move(s), true);
    before.fresh.clear();
    after.fresh.clear();
  }

  void status(std::size_t line, int before, int after) {
    if (before == after) return;
    ++status_changed_;
    ++transitions_[{before, after}];
    if (status_changes_.size() < diff_limit_) status_changes_.push_back({line, before, after});
  }

  void finish() {
    for (const bool side_after : {false, true}) {
      auto& pending = side_after ? pending_after_ : pending_before_;
      std::vector<Seen> left;
      for (auto& [id, seen] : pending) left.push_back(std::move(seen));
      std::sort(left.begin(), left.end(),
                [](const Seen& x, const Seen& y) { return x.order < y.order; });
      auto& shown = side_after ? added_ : removed_;
      for (Seen& s : left) {
        Counts& c = counts_[{s.delivery.route, s.delivery.destination}];
        (side_after ? c.added : c.removed)++;
        (side_after ? total_.added : total_.removed)++;
        if (shown.size() < diff_limit_) shown.push_back(std::move(s));
      }
      pending.clear();
    }
  }

  [[nodiscard]] bool identical() const {
    return total_.added == 0 && total_.removed == 0 && total_.changed == 0 && status_changed_ == 0;
  }

  std::size_t diff_limit_;
  Counts total_;
  std::map<std::pair<std::string, std::string>, Counts> counts_;
  std::vector<Changed> changed_;
  std::vector<Seen> added_;
  std::vector<Seen> removed_;
  std::size_t status_changed_ = 0;
  std::map<std::pair<int, int>, std::size_t> transitions_;
  std::vector<StatusChange> status_changes_;

 private:
  void take(Seen seen, bool side_after) {
    const Delivery& d = seen.delivery;
    Counts& c = counts_[{d.route, d.destination}];
    (side_after ? c.after : c.before)++;
    (side_after ? total_.after : total_.before)++;
    // The same key and destination may fire twice on one side (correlation off: no duplicate
    // detection); the n-th of one side is the n-th of the other.
    std::string id = d.idempotency_key + '\n' + d.destination;
    id += '\n' + std::to_string(occurrences_[side_after][id]++);
    auto& mine = side_after ? pending_after_ : pending_before_;
    auto& theirs = side_after ? pending_before_ : pending_after_;
    const auto it = theirs.find(id);
    if (it == theirs.end()) {
      mine.emplace(std::move(id), std::move(seen));
      return;
    }
    const Seen& before = side_after ? it->second : seen;
    const Seen& after = side_after ? seen : it->second;
    Difference diff = difference(before.delivery, after.delivery);
    if (diff.empty()) {
      ++c.unchanged;
      ++total_.unchanged;
    } else {
      ++c.changed;
      ++total_.changed;
      if (changed_.size() < diff_limit_) changed_.push_back({after, std::move(diff)});
    }
    theirs.erase(it);
  }

  std::unordered_map<std::string, Seen> pending_before_;
  std::unordered_map<std::string, Seen> pending_after_;
  std::unordered_map<std::string, std::size_t> occurrences_[2];
};

// ---- the report
// -----------------------------------------------------------------------------------

struct Unreadable {
  std::size_t line;
  std::string problem;
};

struct Report {
  std::string before_path, after_path, log_path;
  std::size_t requests = 0;
  std::vector<Unreadable> unreadable;
  const Comparison* comparison = nullptr;
};

ordered_json seen_json(const Seen& s, const Redact& redact) {
  ordered_json out = {{"route", s.delivery.route},
                      {"destination", s.delivery.destination},
                      {"idempotency_key", redact(s.delivery.idempotency_key)}};
  out["line"] = s.line ? ordered_json(*s.line) : ordered_json(nullptr);
  out["now"] = s.now;
  return out;
}

ordered_json counts_json(const Counts& c) {
  return {{"old", c.before},      {"new", c.after},       {"added", c.added},
          {"removed", c.removed}, {"changed", c.changed}, {"unchanged", c.unchanged}};
}

ordered_json report_json(const Report& r, const Redact& redact) {
  const Comparison& c = *r.comparison;
  ordered_json out;
  out["old"] = r.before_path;
  out["new"] = r.after_path;
  out["requests"] = r.requests;
  ordered_json unreadable = ordered_json::array();
  for (const Unreadable& u : r.unreadable) {
    unreadable.push_back({{"line", u.line}, {"error", redact(u.problem)}});
  }
  out["unreadable"] = unreadable;
  out["identical"] = c.identical();
  out["deliveries"] = counts_json(c.total_);
  ordered_json routes = ordered_json::array();
  for (const auto& [key, counts] : c.counts_) {
    ordered_json row = {{"route", key.first}, {"destination", key.second}};
    row.update(counts_json(counts));
    routes.push_back(std::move(row));
  }
  out["routes"] = routes;
  ordered_json transitions = ordered_json::array();
  for (const auto& [pair, count] : c.transitions_) {
    transitions.push_back({{"old", pair.first}, {"new", pair.second}, {"count", count}});
  }
  ordered_json first = ordered_json::array();
  for (const StatusChange& s : c.status_changes_) {
    first.push_back({{"line", s.line}, {"old", s.before}, {"new", s.after}});
  }
  out["statuses"] = {
      {"changed", c.status_changed_}, {"transitions", transitions}, {"first", first}};
  ordered_json changed = ordered_json::array();
  for (const Changed& ch : c.changed_) {
    ordered_json entry = seen_json(ch.after, redact);
    ordered_json fields = ordered_json::array();
    for (const FieldChange& f : ch.difference.fields) {
      ordered_json field = {{"field", f.field}};
      if (!f.name.empty()) field["name"] = f.name;
      field["old"] = redacted(f.before, redact);
      field["new"] = redacted(f.after, redact);
      fields.push_back(field);
    }
    entry["fields"] = fields;
    const Difference& d = ch.difference;
    if (!d.body_changed) {
      entry["body"] = nullptr;
    } else if (d.body_is_json) {
      ordered_json changes = ordered_json::array();
      for (const BodyChange& b : d.body) {
        ordered_json one = {{"pointer", redact(b.pointer)}};
        if (b.before) one["old"] = redacted(*b.before, redact);
        if (b.after) one["new"] = redacted(*b.after, redact);
        changes.push_back(one);
      }
      entry["body"] = {{"json", true}, {"changes", changes}, {"more", d.more}};
    } else {
      ordered_json lines = ordered_json::array();
      for (const std::string& line : d.lines) lines.push_back(redact(line));
      entry["body"] = {{"json", false}, {"lines", lines}, {"more", d.more}};
    }
    changed.push_back(entry);
  }
  out["changed"] = changed;
  for (const auto& [name, list] :
       {std::pair{"added", &c.added_}, std::pair{"removed", &c.removed_}}) {
    ordered_json items = ordered_json::array();
    for (const Seen& s : *list) items.push_back(seen_json(s, redact));
    out[name] = items;
  }
  out["diff_limit"] = c.diff_limit_;
  return {{"compare", out}};
}

// Text cut short for the human report, on a UTF-8 boundary.
std::string cut(std::string text) {
  if (text.size() > kMaxShownValue) {
    std::size_t end = kMaxShownValue;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    text.resize(end);
    text += "...";
  }
  return text;
}

// A value as the human report shows it: compact JSON, cut short.
std::string shown(const ordered_json& value, const Redact& redact) {
  return cut(redacted(value, redact).dump(-1, ' ', false, ordered_json::error_handler_t::replace));
}

void append(std::string& out, const char* format, ...) __attribute__((format(printf, 2, 3)));
void append(std::string& out, const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  if (n > 0)
    out.append(buffer, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buffer - 1));
}

std::string where(const Seen& s) {
  return s.line ? "line " + std::to_string(*s.line) : "sweep at " + std::to_string(s.now);
}

std::string shown_list(std::size_t total, std::size_t listed) {
  if (total == listed) return std::to_string(total);
  return std::to_string(total) + ", the first " + std::to_string(listed) + " shown";
}

std::string report_text(const Report& r, const Redact& redact) {
  const Comparison& c = *r.comparison;
  const Counts& t = c.total_;
  std::string out;
  out += "callhook replay --compare: " + r.before_path + " (old) -> " + r.after_path + " (new), " +
         std::to_string(r.requests) + " requests from " + r.log_path;
  if (!r.unreadable.empty()) {
    out += " (" + std::to_string(r.unreadable.size()) + " unreadable, skipped: line";
    for (std::size_t i = 0; i < r.unreadable.size() && i < c.diff_limit_; ++i) {
      out += (i == 0 ? " " : ", ") + std::to_string(r.unreadable[i].line);
    }
    if (r.unreadable.size() > c.diff_limit_) out += ", ...";
    out += ")";
  }
  out += "\n";
  if (c.identical()) {
    append(out, "no difference: the same %zu deliveries, no answer changed status\n", t.before);
    return out;
  }
  append(out, "deliveries: %zu old, %zu new: %zu added, %zu removed, %zu changed, %zu the same\n",
         t.before, t.after, t.added, t.removed, t.changed, t.unchanged);
  append(out, "answers: %zu changed status", c.status_changed_);
  bool first = true;
  for (const auto& [pair, count] : c.transitions_) {
    append(out, "%s%d -> %d: %zu", first ? " (" : ", ", pair.first, pair.second, count);
    first = false;
  }
  out += first ? "\n" : ")\n";

  out += "\n";
  std::size_t width = 20;  // "route -> destination"
  for (const auto& [key, counts] : c.counts_) {
    width = std::max(width, key.first.size() + key.second.size() + 4);  // " -> "
  }
  const int w = static_cast<int>(std::min<std::size_t>(width, 200));
  append(out, "%-*s %7s %7s %7s %7s %7s\n", w, "route -> destination", "old", "new", "added",
         "removed", "changed");
  for (const auto& [key, n] : c.counts_) {
    const std::string name = key.first + " -> " + key.second;
    append(out, "%-*s %7zu %7zu %7zu %7zu %7zu\n", w, name.c_str(), n.before, n.after, n.added,
           n.removed, n.changed);
  }

  if (t.changed > 0) {
    out += "\nchanged (" + shown_list(t.changed, c.changed_.size()) + "):\n";
    for (const Changed& ch : c.changed_) {
      const Seen& s = ch.after;
      out += "  " + s.delivery.route + " -> " + s.delivery.destination + "  " +
             redact(s.delivery.idempotency_key) + "  (" + where(s) + ")\n";
      for (const FieldChange& f : ch.difference.fields) {
        const std::string label = f.field == "header" ? "header " + f.name : f.field;
        // A header's null is its absence.
        const auto value = [&](const ordered_json& v) {
          return v.is_null() ? std::string("(none)") : shown(v, redact);
        };
        out += "    " + label + ": " + value(f.before) + " -> " + value(f.after) + "\n";
      }
      const Difference& d = ch.difference;
      if (d.body_is_json) {
        for (const BodyChange& b : d.body) {
          out += "    body " + redact(b.pointer.empty() ? "(whole)" : b.pointer) + ": " +
                 (b.before ? shown(*b.before, redact) : "(none)") + " -> " +
                 (b.after ? shown(*b.after, redact) : "(none)") + "\n";
        }
      } else if (d.body_changed) {
        out += "    body:\n";
        for (const std::string& line : d.lines) {
          out += "      " + cut(redact(line)) + "\n";
        }
      }
      if (d.more > 0) out += "    ... and " + std::to_string(d.more) + " more\n";
    }
  }
  for (const auto& [label, list, total] :
       {std::tuple{"added", &c.added_, t.added}, std::tuple{"removed", &c.removed_, t.removed}}) {
    if (total == 0) continue;
    out += std::string("\n") + label + " (" + shown_list(total, list->size()) + "):\n";
    for (const Seen& s : *list) {
      out += "  " + s.delivery.route + " -> " + s.delivery.destination + "  " +
             redact(s.delivery.idempotency_key) + "  (" + where(s) + ")\n";
    }
  }
  if (c.status_changed_ > 0) {
    out += "\nanswers that changed status (" +
           shown_list(c.status_changed_, c.status_changes_.size()) + "):\n";
    for (const StatusChange& s : c.status_changes_) {
      append(out, "  line %zu: %d -> %d\n", s.line, s.before, s.after);
    }
  }
  return out;
}

}  // namespace

int replay_compare(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(kHelp);
    return kExitOk;
  }
  constexpr std::string_view kCommand = "replay";
  Args args(argc, argv, 2);
  const auto after_path = args.option("--config");
  const auto before_path = args.option("--compare");
  const std::string now_field = args.option("--now-from").value_or("received_at");
  const auto limit_text = args.option("--diff-limit");
  const bool as_json = args.flag("--json");
  const bool fail_on_change = args.flag("--fail-on-change");
  const auto state = args.option("--state");
  if (args.missing_value()) return usage_error(kCommand, *args.missing_value() + " needs a value");
  if (const auto unknown = args.unknown())
    return usage_error(kCommand, "unknown option " + *unknown);
  if (state) {
    return usage_error(kCommand,
                       "--compare keeps each config's records in memory; it takes no --state");
  }
  const auto rest = args.positionals();
  if (!after_path) return usage_error(kCommand, "--config (the new config) is required");
  if (rest.size() != 1) return usage_error(kCommand, "takes one log file");
  std::size_t diff_limit = 5;
  if (limit_text) {
    const auto [end, ec] =
        std::from_chars(limit_text->data(), limit_text->data() + limit_text->size(), diff_limit);
    if (ec != std::errc() || end != limit_text->data() + limit_text->size()) {
      return usage_error(kCommand, "--diff-limit takes a whole number, not '" + *limit_text + "'");
    }
  }
  const auto before = load_engine(kCommand, *before_path);
  if (!before) return kExitUsage;
  const auto after = load_engine(kCommand, *after_path);
  if (!after) return kExitUsage;
  const auto log = read_input(kCommand, rest[0]);
  if (!log) return kExitUsage;

  const Redact redact = [&](std::string_view text) { return after->redact(before->redact(text)); };
  MemoryStore before_store, after_store;
  Collector before_seen, after_seen;
  Replayer before_run(*before, before_store, before_seen);
  Replayer after_run(*after, after_store, after_seen);
  Comparison comparison(diff_limit);
  Report report{redact(*before_path), redact(*after_path), redact(rest[0]), 0, {}, &comparison};
  std::int64_t last_now = 0;
  for_each_log_line(*log, [&](std::size_t line_number, std::string_view line, std::size_t) {
    ++report.requests;
    const LogLine entry = read_log_line(line, now_field);
    if (!entry.request) {
      report.unreadable.push_back({line_number, entry.problem});
      return;
    }
    last_now = std::max(last_now, entry.now);
    before_seen.status.reset();
    after_seen.status.reset();
    before_run.handle(line_number, *entry.request, entry.now);
    after_run.handle(line_number, *entry.request, entry.now);
    if (before_seen.status && after_seen.status) {
      comparison.status(line_number, *before_seen.status, *after_seen.status);
    }
    comparison.step(before_seen, after_seen);
  });
  before_run.sweep_due(last_now);
  after_run.sweep_due(last_now);
  comparison.step(before_seen, after_seen);
  comparison.finish();

  Output output;
  if (as_json) {
    output.buffer() +=
        report_json(report, redact).dump(-1, ' ', false, ordered_json::error_handler_t::replace);
    output.buffer().push_back('\n');
  } else {
    output.buffer() += report_text(report, redact);
  }
  output.flush();
  return fail_on_change && !comparison.identical() ? kExitRejected : kExitOk;
}

}  // namespace callhook::cli
