// What `callhook replay` and `callhook replay --compare` share: reading a log of requests, and a
// replayer that runs them through one engine with its own record store, as a shell would.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "callhook/engine.h"

namespace callhook::cli {

// Where records live between requests: memory, or one file per call in a folder.
class RecordStore {
 public:
  virtual ~RecordStore() = default;
  virtual std::optional<std::string> get(const std::string& key) = 0;
  virtual bool put(const std::string& key, const std::string& record) = 0;
  /// Every key stored (for a folder, also those of earlier runs).
  virtual std::vector<std::string> keys() = 0;
};

class MemoryStore final : public RecordStore {
 public:
  std::optional<std::string> get(const std::string& key) override;
  bool put(const std::string& key, const std::string& record) override;
  std::vector<std::string> keys() override;

 private:
  std::map<std::string, std::string> records_;
};

/// One line of a replay log: a request and its receipt time, or (no request) why not.
struct LogLine {
  std::optional<Request> request;
  std::int64_t now = 0;
  std::string problem;
};
/// Reads one non-blank line: a JSON request with its receipt time in `now_field` (epoch seconds,
/// or "yyyy-MM-dd HH:mm:ss" / ISO 8601 UTC).
[[nodiscard]] LogLine read_log_line(std::string_view line, const std::string& now_field);

/// Calls `each(line_number, text, end_offset)` for every non-blank line of `log` (numbered from
/// 1, a trailing CR dropped).
template <class Each>
void for_each_log_line(std::string_view log, Each&& each) {
  std::size_t offset = 0;
  std::size_t number = 0;
  while (offset < log.size()) {
    std::size_t end = log.find('\n', offset);
    if (end == std::string_view::npos) end = log.size();
    std::string_view line = log.substr(offset, end - offset);
    offset = end + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) each(number, line, offset);
  }
}

/// What a replayer tells as it goes: each request's outcome, and each sweep that abandoned a call.
class ReplayObserver {
 public:
  virtual ~ReplayObserver() = default;
  virtual void on_request(std::size_t line, std::int64_t now, const Outcome& outcome) = 0;
  virtual void on_sweep(const std::string& key, std::int64_t now, const Outcome& outcome) = 0;
};

struct ReplaySummary {
  std::size_t lines = 0;
  std::size_t accepted = 0;
  std::size_t duplicates = 0;
  std::size_t rejected = 0;
  std::size_t unreadable = 0;
  std::map<std::string, std::size_t> deliveries;  // by route
  std::map<int, std::size_t> statuses;
};

/// Runs requests through an engine in order, storing each call's record with compare-and-set and
/// sweeping calls whose Initiate waited past the abandon timeout as time moves on.
class Replayer {
 public:
  Replayer(const Engine& engine, RecordStore& store, ReplayObserver& observer);

  /// Sweeps what is due by `now`, then handles the request.
  void handle(std::size_t line, const Request& request, std::int64_t now);
  void sweep_due(std::int64_t now);

  ReplaySummary& summary() { return summary_; }
  /// Calls, completed, abandoned, still open and never completed, over every record touched.
  [[nodiscard]] nlohmann::json call_counts();

 private:
  bool commit(const Outcome& outcome);
  void index(const std::string& key, const std::optional<std::string>& text);

  const Engine& engine_;
  RecordStore& store_;
  ReplayObserver& observer_;
  ReplaySummary summary_;
  std::multimap<std::int64_t, std::string> due_;  // sweep_at -> record key
  std::set<std::string> touched_;
};

/// `callhook replay --config NEW --compare OLD LOG`: both configs over the same log, the
/// deliveries added, removed and changed between them and the answers whose status changed.
int replay_compare(int argc, char** argv);

}  // namespace callhook::cli
