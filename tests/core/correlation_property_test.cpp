// Property tests of correlation: thousands of random deliveries (duplicates, reorderings, late
// Initiates, Completes that never come, two shells racing on stale records and retrying on
// compare-and-set conflicts), then the invariants the README promises.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "callhook/engine.h"

namespace callhook::testing {
namespace {

constexpr std::int64_t kAbandonAfter = 600;

const char* kConfig = R"({
  "correlation": {"abandon_after_seconds": 600, "retention_seconds": 86400},
  "destinations": {"sink": {"url": "http://127.0.0.1:9/sink"}},
  "routes": [
    {"name": "each", "to": ["sink"]},
    {"name": "done", "on": "complete", "to": ["sink"]},
    {"name": "done-answered", "on": "complete",
     "when": {"call": {"disposition": "ANSWERED"}, "attribution": {"source": {"$exist": true}}},
     "to": ["sink"]},
    {"name": "lost", "on": "abandoned", "to": ["sink"]}
  ]
})";

// A key-value store with compare-and-set on versions, as every shell's store offers.
class Store {
 public:
  struct Entry {
    std::int64_t version = 0;
    std::string record;
  };
  std::optional<Entry> read(const std::string& key) const {
    const auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }
  bool compare_and_set(const std::string& key, std::int64_t expected, std::string record) {
    const auto it = entries_.find(key);
    const std::int64_t current = it == entries_.end() ? 0 : it->second.version;
    if (current != expected) return false;
    entries_[key] = Entry{expected + 1, std::move(record)};
    return true;
  }
  const std::map<std::string, Entry>& all() const { return entries_; }

 private:
  std::map<std::string, Entry> entries_;
};

struct Call {
  std::string account;
  std::string sid;
  bool initiate = false;
  bool complete = false;
  bool answered = false;
  bool attributed = false;
};

struct Delivery {
  std::size_t call = 0;
  bool complete = false;
};

std::string body_for(const Call& c, bool complete) {
  std::string body = "Action=Webhook&Event=" + std::string(complete ? "Call.Complete" : "Call.Initiate") +
                     "&Account.Sid=" + c.account + "&Property.Sid=PR1&Property.Name=x.com&Property.Type=Site"
                     "&Call.Sid=" + c.sid +
                     "&Call.StartDate=2024-05-01+03%3A15%3A42&Call.From=%2B14155550123&Call.To=%2B18005550199"
                     "&Call.To.Name=Main";
  if (complete) {
    body += "&Call.To.Type=Static&Call.Duration=42&Call.Disposition=";
    body += c.answered ? "ANSWERED" : "NO+ANSWER";
  } else if (c.attributed) {
    // Attribution only on the Initiate: the merged call must still see it.
    body += "&Attribution.Source=google&Attribution.Medium=cpc&Attribution.Campaign=x&Attribution.Content=y";
  }
  return body;
}

class Simulation {
 public:
  explicit Simulation(unsigned seed) : rng_(seed) {
    auto engine = Engine::from_config(kConfig, nullptr);
    EXPECT_TRUE(engine.has_value());
    engine_.emplace(std::move(*engine));
  }

  void run(std::size_t call_count) {
    std::bernoulli_distribution coin(0.5);
    for (std::size_t i = 0; i < call_count; ++i) {
      Call c;
      c.account = "AC" + std::to_string(i % 3);
      c.sid = "CA" + std::to_string(seed_base_ + i);
      const int shape = static_cast<int>(rng_() % 10);
      c.initiate = shape < 9;                 // 10%: Complete only (older senders)
      c.complete = shape >= 2 || shape == 9;  // 20%: Initiate only (abandoned)
      c.answered = coin(rng_);
      c.attributed = coin(rng_);
      calls_.push_back(c);
      for (int event = 0; event < 2; ++event) {
        if (event == 0 ? !c.initiate : !c.complete) continue;
        const int copies = 1 + static_cast<int>(rng_() % 3);  // duplicates
        for (int k = 0; k < copies; ++k) queue_.push_back({i, event == 1});
      }
    }
    std::shuffle(queue_.begin(), queue_.end(), rng_);  // any order, Complete before Initiate too
    std::size_t position = 0;
    while (position < queue_.size()) {
      now_ += static_cast<std::int64_t>(rng_() % 5);
      // One time in four, a second shell handles the next delivery of the same call between
      // this shell's read and its write: this shell then holds a stale record.
      const std::size_t racer = find_racer(position);
      if (racer != 0 && rng_() % 4 == 0) {
        const auto stale = store_.read(key_of(queue_[position]));
        deliver(queue_[racer], std::nullopt);
        deliver(queue_[position], stale);
        queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(racer));
      } else {
        deliver(queue_[position], std::nullopt);
      }
      ++position;
      if (position % 40 == 0) sweep_all(rng_() % 3 == 0);
    }
    now_ += kAbandonAfter + 1;
    sweep_all(true);
    sweep_all(false);  // a second sweep finds nothing more to do
  }

  void check_invariants() const {
    std::map<std::string, int> fired;
    for (const std::string& key : sent_) ++fired[key];
    for (const Call& c : calls_) {
      const std::string key = c.account + ":" + c.sid;
      const auto entry = store_.all().find(key);
      ASSERT_NE(entry, store_.all().end()) << key;
      std::string problem;
      const auto record = parse_record(entry->second.record, problem);
      ASSERT_TRUE(record.has_value()) << problem;
      // Every event received is in the final record.
      EXPECT_EQ(record->initiate.has_value(), c.initiate) << key;
      EXPECT_EQ(record->complete.has_value(), c.complete) << key;
      // Each event is routed once, whatever the duplicates.
      EXPECT_EQ(fired[c.sid + ":Call.Initiate:each"], c.initiate ? 1 : 0) << key;
      EXPECT_EQ(fired[c.sid + ":Call.Complete:each"], c.complete ? 1 : 0) << key;
      // `complete` routes fire exactly once per completed call, over the merged view.
      EXPECT_EQ(fired[c.sid + ":complete:done"], c.complete ? 1 : 0) << key;
      const bool answered_with_source = c.complete && c.answered && c.attributed && initiate_before_complete(key);
      if (c.complete && c.answered && c.attributed) {
        EXPECT_LE(fired[c.sid + ":complete:done-answered"], 1) << key;
      }
      if (answered_with_source) EXPECT_EQ(fired[c.sid + ":complete:done-answered"], 1) << key;
      if (!c.answered) EXPECT_EQ(fired[c.sid + ":complete:done-answered"], 0) << key;
      // Every Initiate without a Complete is abandoned exactly once; nothing fires twice.
      if (c.initiate && !c.complete) EXPECT_EQ(fired[c.sid + ":abandoned:lost"], 1) << key;
      if (!c.initiate) EXPECT_EQ(fired[c.sid + ":abandoned:lost"], 0) << key;
      EXPECT_LE(fired[c.sid + ":abandoned:lost"], 1) << key;
    }
    for (const auto& [key, count] : fired) EXPECT_LE(count, 1) << key << " was sent twice";
    EXPECT_GT(conflicts_, 0u) << "the simulation never raced";
  }

 private:
  std::string key_of(const Delivery& d) const { return calls_[d.call].account + ":" + calls_[d.call].sid; }

  std::size_t find_racer(std::size_t position) const {
    for (std::size_t j = position + 1; j < queue_.size() && j < position + 4; ++j) {
      if (queue_[j].call == queue_[position].call) return j;
    }
    return 0;
  }

  bool initiate_before_complete(const std::string& key) const { return order_.count(key) != 0; }

  // Handles one delivery as a shell does: read, decide, compare-and-set; on conflict read the
  // fresh record and decide again. Deliveries are sent only once the record is stored.
  void deliver(const Delivery& d, std::optional<Store::Entry> stale) {
    const Call& c = calls_[d.call];
    Request request;
    request.url = "/hook";
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    request.body = body_for(c, d.complete);
    const std::string key = key_of(d);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const auto snapshot = attempt == 0 && stale ? stale : store_.read(key);
      const auto record = snapshot ? std::optional<std::string>(snapshot->record) : std::nullopt;
      Outcome outcome = engine_->handle(request, now_, record);
      ASSERT_EQ(outcome.response.status, 200) << outcome.response.body;
      ASSERT_TRUE(outcome.record.has_value());
      if (!store_.compare_and_set(key, outcome.record_expected_version, *outcome.record)) {
        ++conflicts_;
        continue;
      }
      if (!d.complete && !outcome.duplicate) {
        const auto stored = store_.read(key);
        std::string problem;
        if (const auto r = parse_record(stored->record, problem); r && !r->complete) order_.insert(key);
      }
      for (const auto& delivery : outcome.deliveries) sent_.push_back(delivery.idempotency_key);
      return;
    }
    FAIL() << "no progress after 10 compare-and-set attempts";
  }

  void sweep_all(bool race) {
    std::vector<std::string> keys;
    for (const auto& [key, entry] : store_.all()) keys.push_back(key);
    for (const std::string& key : keys) {
      std::optional<Store::Entry> stale = race ? store_.read(key) : std::nullopt;
      for (int attempt = 0; attempt < 10; ++attempt) {
        const auto snapshot = attempt == 0 && stale ? stale : store_.read(key);
        Outcome outcome = engine_->sweep(snapshot->record, now_);
        if (race && attempt == 0 && outcome.record) {
          // Another shell sweeps the same record first: this one must lose and re-read.
          Outcome other = engine_->sweep(snapshot->record, now_);
          if (store_.compare_and_set(key, other.record_expected_version, *other.record)) {
            for (const auto& delivery : other.deliveries) sent_.push_back(delivery.idempotency_key);
          }
        }
        if (!outcome.record) break;  // nothing due
        if (!store_.compare_and_set(key, outcome.record_expected_version, *outcome.record)) {
          ++conflicts_;
          continue;
        }
        for (const auto& delivery : outcome.deliveries) sent_.push_back(delivery.idempotency_key);
        break;
      }
    }
  }

  std::mt19937 rng_;
  std::size_t seed_base_ = 1000;
  std::optional<Engine> engine_;
  Store store_;
  std::vector<Call> calls_;
  std::vector<Delivery> queue_;
  std::vector<std::string> sent_;
  std::set<std::string> order_;  // calls whose Initiate was stored before their Complete
  std::int64_t now_ = 1714533342;
  std::size_t conflicts_ = 0;
};

class CorrelationProperty : public ::testing::TestWithParam<unsigned> {};

TEST_P(CorrelationProperty, InvariantsHoldUnderDuplicatesReorderingAndRaces) {
  Simulation simulation(GetParam());
  simulation.run(400);
  simulation.check_invariants();
}

INSTANTIATE_TEST_SUITE_P(Seeds, CorrelationProperty, ::testing::Range(1u, 9u));

}  // namespace
}  // namespace callhook::testing
