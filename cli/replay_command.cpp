// callhook replay: runs a log of requests through the engine with a record store, as a shell
// would, to backfill or audit a day of webhooks.
#include <charconv>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "callhook/correlate.h"
#include "callhook/spec.h"
#include "cli_io.h"
#include "commands.h"
#include "json_writer.h"
#include "replay.h"

#if defined(__unix__) || defined(__wasi__) || defined(__APPLE__)
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#define CALLHOOK_HAVE_POSIX_FILES 1
#endif

namespace callhook::cli {

using nlohmann::json;

std::optional<std::string> MemoryStore::get(const std::string& key) {
  const auto it = records_.find(key);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

bool MemoryStore::put(const std::string& key, const std::string& record) {
  records_[key] = record;
  return true;
}

std::vector<std::string> MemoryStore::keys() {
  std::vector<std::string> out;
  for (const auto& [key, record] : records_) out.push_back(key);
  return out;
}

namespace {

#ifdef CALLHOOK_HAVE_POSIX_FILES
// File names are the key with every byte outside [A-Za-z0-9_-] written as %XX.
std::string file_name(const std::string& key) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : key) {
    const auto b = static_cast<unsigned char>(c);
    if ((b >= '0' && b <= '9') || (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || b == '_' ||
        b == '-') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
  }
  return out + ".json";
}

class FolderStore final : public RecordStore {
 public:
  explicit FolderStore(std::string folder) : folder_(std::move(folder)) {}
  bool open() {
    mkdir(folder_.c_str(), 0755);
    struct stat info {};
    return stat(folder_.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
  }
  std::optional<std::string> get(const std::string& key) override {
    return read_file(folder_ + "/" + file_name(key));
  }
  bool put(const std::string& key, const std::string& record) override {
    // Write then rename, so a crash never leaves half a record.
    const std::string path = folder_ + "/" + file_name(key);
    const std::string temp = path + ".tmp";
    return write_file(temp, record) && std::rename(temp.c_str(), path.c_str()) == 0;
  }
  std::vector<std::string> keys() override {
    std::vector<std::string> out;
    DIR* dir = opendir(folder_.c_str());
    if (dir == nullptr) return out;
    while (const dirent* entry = readdir(dir)) {
      const std::string name = entry->d_name;
      if (!name.ends_with(".json")) continue;
      // The key is inside the record; reading it back avoids decoding file names.
      if (const auto record = read_file(folder_ + "/" + name)) {
        const json doc = json::parse(*record, nullptr, false);
        if (doc.is_object() && doc.contains("key") && doc["key"].is_string()) {
          out.push_back(doc["key"].get<std::string>());
        }
      }
    }
    closedir(dir);
    return out;
  }

 private:
  std::string folder_;
};
#endif

// A receipt time: epoch seconds, or "yyyy-MM-dd HH:mm:ss" / "yyyy-MM-ddTHH:mm:ssZ" (UTC).
std::optional<std::int64_t> receipt_time(const json& value) {
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_number()) return static_cast<std::int64_t>(value.get<double>());
  if (!value.is_string()) return std::nullopt;
  return utc_datetime_to_epoch(value.get_ref<const std::string&>());
}

void write_deliveries(JsonWriter& w, const Outcome& outcome) {
  w.key("deliveries").begin_array();
  for (const Delivery& d : outcome.deliveries) {
    w.begin_object().key("route").string(d.route).key("destination").string(d.destination);
    w.key("idempotency_key").string(d.idempotency_key).end_object();
  }
  w.end_array();
}

// `callhook replay`'s output: one line per request and per abandoned call.
class PrintObserver final : public ReplayObserver {
 public:
  explicit PrintObserver(Output& output) : output_(output) {}

  void on_request(std::size_t line, std::int64_t now, const Outcome& outcome) override {
    std::string& out = output_.buffer();
    JsonWriter w(out);
    w.begin_object().key("line").number(static_cast<std::int64_t>(line)).key("now").number(now);
    w.key("status").number(outcome.response.status);
    const json event =
        outcome.canonical.empty() ? json() : json::parse(outcome.canonical, nullptr, false);
    w.key("event");
    if (event.is_object()) {
      w.string(event.value("event", std::string()));
      w.key("call_sid")
          .string(event.contains("call") ? event["call"].value("sid", std::string()) : "");
    } else {
      w.null();
    }
    w.key("duplicate").boolean(outcome.duplicate);
    write_deliveries(w, outcome);
    w.end_object();
    out.push_back('\n');
    output_.maybe_flush();
  }

  void on_sweep(const std::string& key, std::int64_t now, const Outcome& outcome) override {
    std::string& out = output_.buffer();
    JsonWriter w(out);
    w.begin_object().key("sweep").string(key).key("now").number(now);
    w.key("abandoned").boolean(true);
    write_deliveries(w, outcome);
    w.end_object();
    out.push_back('\n');
    output_.maybe_flush();
  }

 private:
  Output& output_;
};

void progress(std::size_t done, std::size_t total, std::size_t lines) {
  const int width = 30;
  const int filled =
      total == 0 ? width
                 : static_cast<int>(static_cast<double>(done) / static_cast<double>(total) * width);
  std::fprintf(stderr, "\r[%-*.*s] %3d%% %zu requests", width, filled,
               "##############################",
               total == 0 ? 100 : static_cast<int>(done * 100 / total), lines);
}

}  // namespace

LogLine read_log_line(std::string_view line, const std::string& now_field) {
  LogLine out;
  const json doc = json::parse(line.begin(), line.end(), nullptr, false);
  std::optional<std::int64_t> now;
  if (doc.is_discarded()) {
    out.problem = "not JSON";
  } else if (!(out.request = parse_request(doc, out.problem))) {
    // problem says why
  } else if (!doc.contains(now_field) || !(now = receipt_time(doc[now_field]))) {
    out.problem = "no receipt time in " + now_field;
  }
  if (!out.problem.empty()) {
    out.request.reset();
  } else {
    out.now = *now;
  }
  return out;
}

Replayer::Replayer(const Engine& engine, RecordStore& store, ReplayObserver& observer)
    : engine_(engine), store_(store), observer_(observer) {
  for (const std::string& key : store_.keys()) index(key, store_.get(key));
}

void Replayer::handle(std::size_t line, const Request& request, std::int64_t now) {
  sweep_due(now);
  Outcome outcome = engine_.handle(request, now);
  if (outcome.record) {  // decide again on the call's stored record, as a shell does
    if (auto stored = store_.get(outcome.record_key))
      outcome = engine_.handle(request, now, stored);
  }
  if (!commit(outcome)) {
    ++summary_.unreadable;
    return;
  }
  ++summary_.statuses[outcome.response.status];
  if (outcome.duplicate) {
    ++summary_.duplicates;
  } else if (outcome.response.status == 200 && !outcome.canonical.empty()) {
    ++summary_.accepted;
  } else {
    ++summary_.rejected;
  }
  observer_.on_request(line, now, outcome);
}

void Replayer::sweep_due(std::int64_t now) {
  while (!due_.empty() && due_.begin()->first <= now) {
    const std::string key = due_.begin()->second;
    due_.erase(due_.begin());
    const auto record = store_.get(key);
    if (!record) continue;
    Outcome outcome = engine_.sweep(*record, now);
    if (!outcome.record) continue;  // no longer due (completed since)
    if (!commit(outcome)) continue;
    observer_.on_sweep(key, now, outcome);
  }
}

json Replayer::call_counts() {
  std::size_t calls = 0, completed = 0, abandoned = 0, open = 0, initiate_only = 0;
  for (const std::string& key : touched_) {
    const auto text = store_.get(key);
    std::string problem;
    const auto record = text ? parse_record(*text, problem) : std::nullopt;
    if (!record) continue;
    ++calls;
    if (record->complete) ++completed;
    if (record->abandoned) ++abandoned;
    if (record->initiate && !record->complete) ++initiate_only;
    if (record->initiate && !record->complete && !record->abandoned) ++open;
  }
  return {{"calls", calls},
          {"completed", completed},
          {"abandoned", abandoned},
          {"open", open},
          {"never_completed", initiate_only}};
}

// Stores the outcome's record; the version check is the compare-and-set a shared store does.
bool Replayer::commit(const Outcome& outcome) {
  if (outcome.record) {
    const auto current = store_.get(outcome.record_key);
    std::int64_t version = 0;
    if (current) {
      std::string problem;
      if (const auto r = parse_record(*current, problem)) version = r->version;
    }
    if (version != outcome.record_expected_version ||
        !store_.put(outcome.record_key, *outcome.record)) {
      std::fprintf(stderr, "callhook replay: cannot store the record of %s\n",
                   outcome.record_key.c_str());
      return false;
    }
    touched_.insert(outcome.record_key);
    index(outcome.record_key, outcome.record);
  }
  for (const Delivery& d : outcome.deliveries) ++summary_.deliveries[d.route];
  return true;
}

void Replayer::index(const std::string& key, const std::optional<std::string>& text) {
  if (!text) return;
  std::string problem;
  const auto record = parse_record(*text, problem);
  if (record && record->sweep_at) due_.emplace(*record->sweep_at, key);
}

int cmd_replay(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    const std::string_view word = argv[i];
    if (word == "--compare" || word.starts_with("--compare=")) return replay_compare(argc, argv);
  }
  if (wants_help(argc, argv)) {
    print_help(
        "Usage: callhook replay --config FILE [--state DIR] [--now-from FIELD] LOG.ndjson\n"
        "       callhook replay --config NEW --compare OLD [options] LOG.ndjson\n\n"
        "Runs a log of requests through the engine in order, with a record store, as a shell\n"
        "would: one JSON request per line ({\"method\", \"url\", \"headers\", \"body\"} and its\n"
        "receipt time), one outcome per output line, then a summary line. Calls whose\n"
        "Initiate waited past the abandon timeout are swept as time moves on.\n\n"
        "  --state DIR       keep records in DIR (one file per call) so later runs continue;\n"
        "                    without it records live in memory for this run\n"
        "  --now-from FIELD  the line's field holding the receipt time (default received_at):\n"
        "                    epoch seconds or yyyy-MM-dd HH:mm:ss / ISO 8601 UTC\n\n"
        "With --compare OLD, replays the log through both configs and reports what NEW\n"
        "delivers differently ('callhook replay --compare --help').\n\n"
        "Exit status: 0 when every line was read, 1 when some line could not be, 2 on a bad\n"
        "config or usage.\n");
    return kExitOk;
  }
  Args args(argc, argv, 2);
  const auto config_path = args.option("--config");
  const auto state = args.option("--state");
  const std::string now_field = args.option("--now-from").value_or("received_at");
  if (args.missing_value()) return usage_error("replay", *args.missing_value() + " needs a value");
  if (const auto unknown = args.unknown())
    return usage_error("replay", "unknown option " + *unknown);
  const auto rest = args.positionals();
  if (!config_path) return usage_error("replay", "--config is required");
  if (rest.size() != 1) return usage_error("replay", "takes one log file");
  const auto engine = load_engine("replay", *config_path);
  if (!engine) return kExitUsage;

  std::unique_ptr<RecordStore> store;
  if (state) {
#ifdef CALLHOOK_HAVE_POSIX_FILES
    auto folder = std::make_unique<FolderStore>(*state);
    if (!folder->open())
      return usage_error("replay", "cannot use " + *state + " as the state folder");
    store = std::move(folder);
#else
    return usage_error("replay", "--state is not available on this platform");
#endif
  } else {
    store = std::make_unique<MemoryStore>();
  }
  const auto log = read_input("replay", rest[0]);
  if (!log) return kExitUsage;

#ifdef CALLHOOK_HAVE_POSIX_FILES
  const bool show_progress = isatty(2) != 0;
#else
  const bool show_progress = false;
#endif
  Output output;
  PrintObserver printer(output);
  Replayer replayer(*engine, *store, printer);
  ReplaySummary& summary = replayer.summary();
  std::int64_t last_now = 0;
  for_each_log_line(*log, [&](std::size_t line_number, std::string_view line, std::size_t end) {
    ++summary.lines;
    const LogLine entry = read_log_line(line, now_field);
    if (!entry.request) {
      ++summary.unreadable;
      std::string& out = output.buffer();
      JsonWriter w(out);
      w.begin_object().key("line").number(static_cast<std::int64_t>(line_number));
      w.key("error").string(entry.problem).end_object();
      out.push_back('\n');
      return;
    }
    last_now = std::max(last_now, entry.now);
    replayer.handle(line_number, *entry.request, entry.now);
    if (show_progress && summary.lines % 2048 == 0) progress(end, log->size(), summary.lines);
  });
  replayer.sweep_due(last_now);
  if (show_progress) {
    progress(log->size(), log->size(), summary.lines);
    std::fprintf(stderr, "\n");
  }
  json result = replayer.call_counts();
  result["requests"] = summary.lines;
  result["accepted"] = summary.accepted;
  result["duplicates"] = summary.duplicates;
  result["rejected"] = summary.rejected;
  result["unreadable"] = summary.unreadable;
  json statuses = json::object();
  for (const auto& [status, count] : summary.statuses) statuses[std::to_string(status)] = count;
  result["statuses"] = statuses;
  json per_route = json::object();
  for (const auto& [route, count] : summary.deliveries) per_route[route] = count;
  result["deliveries"] = per_route;
  output.buffer() += json{{"summary", result}}.dump();
  output.buffer().push_back('\n');
  output.flush();
  std::fprintf(stderr,
               "replay: %zu requests: %zu accepted, %zu duplicates, %zu rejected, %zu unreadable; "
               "%s calls, %s completed, %s abandoned, %s open\n",
               summary.lines, summary.accepted, summary.duplicates, summary.rejected,
               summary.unreadable, result["calls"].dump().c_str(),
               result["completed"].dump().c_str(), result["abandoned"].dump().c_str(),
               result["open"].dump().c_str());
  return summary.unreadable == 0 ? kExitOk : kExitRejected;
}

}  // namespace callhook::cli
