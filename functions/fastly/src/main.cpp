// callhook on Fastly Compute: one run of this WASI command per request, as Fastly runs it.
//
// What it does, in order (the README's "What a shell does", with Fastly's parts):
//  1. reads the request (bodies over 1 MiB are refused with 413);
//  2. builds the engine from the Config Store `callhook_config` (key `config`) or, when that
//     store or key is absent, from the config compiled into the program, resolving `${NAME}`
//     from the Secret Store `callhook_secrets` — or, in the pre-initialized program
//     (functions/fastly/build.sh runs Wizer), takes the config the snapshot holds read and binds
//     the Secret Store's values into it (see "start-up");
//  3. handles the request against the call's record in the KV Store `callhook_records`, stored
//     with compare-and-set (insert mode `add` for a new record, `if_generation_match` for an
//     existing one; on a conflict it reads again and handles again);
//  4. writes each delivery to the KV outbox (`outbox/<idempotency key>`) before answering, so
//     an accepted webhook is never lost, then answers the sender. Entries hold the delivery
//     sealed (Engine::seal: `${NAME}` references, never secret values), unsealed only to send.
//     The outbox is bounded: once `outbox_limit` entries wait, a webhook with deliveries is
//     refused `outbox-full` and nothing of it is stored;
//  5. sends the deliveries to the backends named after their destinations, deleting each outbox
//     entry once the engine calls the answer delivered and rescheduling it when the engine says
//     when (its retry policy: the destination's `delivery` settings), or moving it to `dead/`;
//  6. retries a few overdue outbox entries and sweeps a few overdue calls (`due/` index) left by
//     earlier runs: Fastly has no timers, so every request moves that work along.
// Entries keep the call they belong to and every attempt (time, status, the core's code and
// redacted reason), so a dead letter under dead/ (keyed newest first) shows what happened. The
// admin API (/admin/..., the Secret Store's `admin_token`) lists, shows, redrives, purges and
// erases; see the Admin class.
// Log lines go to the log endpoint `callhook_log` (stderr when it is not linked), with one
// `delivery_counts` line per destination per run that attempted deliveries.

#include <wasi/api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "callhook/correlate.h"
#include "callhook/engine.h"
#include "callhook/erasure.h"
#include "callhook/fastly/hostcalls.h"
#include "callhook/front_door.h"

namespace {

namespace fastly = callhook::fastly;
using callhook::AttemptAnswer;
using callhook::AttemptInput;
using callhook::AttemptVerdict;
using callhook::Delivery;
using callhook::Engine;
using callhook::HttpHeader;
using callhook::PaceState;
using callhook::SendPlan;
using callhook::TokenOutcome;

constexpr std::string_view kConfigStore = "callhook_config";
constexpr std::string_view kConfigKey = "config";
constexpr std::string_view kSecretStore = "callhook_secrets";
constexpr std::string_view kKvStore = "callhook_records";
constexpr std::string_view kLogEndpoint = "callhook_log";
// With key `trace` = "outcomes" in the Config Store, each outcome is also written whole (the npm
// package's JSON form, payload data included) to this endpoint: for debugging and for the
// tests that compare this program with the vectors. Off unless asked for.
constexpr std::string_view kTraceEndpoint = "callhook_trace";
constexpr std::string_view kTraceKey = "trace";
constexpr std::string_view kOutboxPrefix = "outbox/";
constexpr std::string_view kDeadPrefix = "dead/";
constexpr std::string_view kDuePrefix = "due/";
constexpr std::string_view kTokenPrefix = "tokens/";  // OAuth access tokens, until they expire
constexpr std::string_view kPacePrefix = "pace/";     // rate-limit buckets
constexpr std::uint32_t kPaceTtlSeconds = 3600;
constexpr std::size_t kMaxRequestBytes = std::size_t{1} << 20;
constexpr int kMaxConflictRetries = 5;
constexpr std::int64_t kLeaseSeconds = 60;  // an outbox entry being sent is not retried
constexpr std::uint32_t kDeadTtlSeconds = 30 * 86400;
constexpr std::uint32_t kBackgroundBatch = 8;
// Fastly allows 32 backend requests per execution (10 on trial accounts): deliveries past this
// stay in the outbox, leased, and go out with later requests.
constexpr int kMaxSendsPerRun = 24;  // outbox retries and sweeps per request
// Pending outbox entries past which a webhook with deliveries is refused (`outbox-full`): a
// destination that is down for long fills the KV Store no further. Config Store key
// `outbox_limit` (1 to 100000) sets another; the count comes from KV listings, which are
// eventually consistent, so the cap is approximate.
constexpr std::int64_t kDefaultOutboxLimit = 1000;
constexpr std::string_view kOutboxLimitKey = "outbox_limit";
constexpr std::uint32_t kListPage = 1000;  // the most keys one KV listing returns

// The config compiled in (functions/fastly/config.json unless CALLHOOK_FASTLY_CONFIG says
// otherwise); generated by CMake.
extern "C" const char callhook_fastly_embedded_config[];
extern "C" const std::size_t callhook_fastly_embedded_config_size;

// The program's own JSON (log events, outbox entries, traces); invalid UTF-8 is replaced.
std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

class Log {
 public:
  Log() {
    if (auto endpoint = fastly::LogEndpoint::open(kLogEndpoint)) endpoint_ = *endpoint;
  }
  void line(std::string_view text) const {
    if (text.empty()) return;
    if (endpoint_ && endpoint_->write(text)) return;
    std::fprintf(stderr, "%.*s\n", static_cast<int>(text.size()), text.data());
  }
  void event(std::string_view level, std::string_view message, std::string_view detail = {},
             std::string_view key = {}) const {
    nlohmann::json entry = {{"level", level}, {"msg", message}};
    if (!detail.empty()) entry["detail"] = detail;
    if (!key.empty()) entry["key"] = key;
    line(dump(entry));
  }

 private:
  std::optional<fastly::LogEndpoint> endpoint_;
};

void answer(const callhook::Response& response, const Log& log) {
  if (auto sent = fastly::send_downstream(response.status, response.headers, response.body);
      !sent) {
    log.event("error", "the response could not be sent", sent.error().message());
  }
}

// Every refusal is the core's document (callhook/front_door.h); this program writes none.
void answer_refusal(callhook::Refusal kind, const Log& log, std::string_view detail = {}) {
  answer(callhook::refusal(kind, detail), log);
}

// KV keys may not hold control characters or [ ] * ? # and are at most 1024 bytes: escape them
// (and '%') as %XX so that any record or idempotency key maps to a valid, unique key.
std::string kv_key(std::string_view prefix, std::string_view key) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out(prefix);
  for (const char c : key) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '[' || c == ']' || c == '*' || c == '?' || c == '#' ||
        c == '%') {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

fastly::KvStore::Write expiring(std::uint32_t ttl_seconds) {
  fastly::KvStore::Write how;
  how.ttl_seconds = ttl_seconds;
  return how;
}

fastly::KvStore::Write over(std::uint64_t generation) {
  fastly::KvStore::Write how;
  how.if_generation_match = generation;
  return how;
}

std::uint32_t ttl_until(std::int64_t at, std::int64_t now) {
  const std::int64_t left = at - now;
  if (left <= 60) return 60;  // the smallest TTL worth asking for
  return left > 0xffffffffLL ? 0xffffffffU : static_cast<std::uint32_t>(left);
}

// ---- the outbox -------------------------------------------------------------------------------

// One attempt of a delivery, as its entry keeps it: when, the destination's status (none for a
// timeout, a transport error or an unsendable delivery), the core's code and redacted reason.
struct AttemptRecord {
  std::int64_t at_ms = 0;
  std::optional<int> status;
  std::string code;
  std::string reason;
};

// One delivery waiting in the outbox (or dead, under dead/). The delivery is kept sealed: its
// names are plain so that an unsendable one can still be reported and keyed, and so is the call
// it belongs to, so that an operator can find and erase it.
struct OutboxEntry {
  std::string route;
  std::string destination;
  std::string idempotency_key;
  std::string sealed;  // Engine::seal's text: ${NAME} references, never secret values
  int attempts = 0;
  std::int64_t next_at = 0;
  std::string code;    // the engine's verdict code after the last attempt (dead/: why)
  std::string reason;  // and its reason in words, redacted
  std::string call_sid;
  std::string record_key;           // "" with correlation off
  std::int64_t enqueued_at_ms = 0;  // 0: not known (written before it was kept)
  std::vector<AttemptRecord> history;
  std::int64_t dead_at_ms = 0;  // dead/: the last attempt's time
};

// The Call.Sid part of an idempotency key (`CALL_SID:what:route`).
std::string call_sid_of_key(std::string_view idempotency_key) {
  return std::string(idempotency_key.substr(0, idempotency_key.find(':')));
}

OutboxEntry entry_for(const Engine& engine, const Delivery& d, std::int64_t next_at) {
  OutboxEntry e;
  e.route = d.route;
  e.destination = d.destination;
  e.idempotency_key = d.idempotency_key;
  e.sealed = engine.seal(d);
  e.next_at = next_at;
  e.call_sid = d.call_sid.empty() ? call_sid_of_key(d.idempotency_key) : d.call_sid;
  e.record_key = d.record_key;
  e.enqueued_at_ms = fastly::now_ms();
  return e;
}

// {"attempts", "next_at", "route", "destination", "idempotency_key", ["code", "reason"],
//  "call_sid", "record_key", "enqueued_at_ms", "history": [{"at_ms", "status", "code",
//  "reason"}], ["dead_at_ms"], "delivery": the sealed delivery as it is}.
std::string write_entry(const OutboxEntry& entry) {
  nlohmann::json doc = {{"attempts", entry.attempts},
                        {"next_at", entry.next_at},
                        {"route", entry.route},
                        {"destination", entry.destination},
                        {"idempotency_key", entry.idempotency_key}};
  if (!entry.code.empty()) {
    doc["code"] = entry.code;
    doc["reason"] = entry.reason;
  }
  doc["call_sid"] = entry.call_sid;
  doc["record_key"] = entry.record_key;
  doc["enqueued_at_ms"] = entry.enqueued_at_ms;
  nlohmann::json history = nlohmann::json::array();
  for (const AttemptRecord& a : entry.history) {
    history.push_back({{"at_ms", a.at_ms},
                       {"status", a.status ? nlohmann::json(*a.status) : nlohmann::json(nullptr)},
                       {"code", a.code},
                       {"reason", a.reason}});
  }
  doc["history"] = std::move(history);
  if (entry.dead_at_ms != 0) doc["dead_at_ms"] = entry.dead_at_ms;
  std::string text = dump(doc);
  text.pop_back();  // the sealed text goes in byte for byte, not re-encoded
  text += ",\"delivery\":";
  text += entry.sealed.empty() ? std::string_view("null") : std::string_view(entry.sealed);
  text += '}';
  return text;
}

// One entry per delivery: a route's deliveries to several destinations share their
// Idempotency-Key, so the destination is part of the entry's key.
std::string entry_key(std::string_view prefix, const OutboxEntry& e) {
  return kv_key(prefix, e.idempotency_key + "/" + e.destination);
}

// A dead letter's id: its time, newest first (13 digits counting down from 9999999999999 ms),
// and 64 bits of FNV-1a over its idempotency key and destination (a route's deliveries to
// several destinations share a key). Keys under dead/ are `dead/ID`, so a KV listing gives the
// dead letters newest first.
constexpr std::int64_t kDeadClock = 9'999'999'999'999;

std::string dead_id(std::int64_t dead_at_ms, std::string_view idempotency_key,
                    std::string_view destination) {
  std::uint64_t h = 14695981039346656037ULL;
  const auto mix = [&](std::string_view text) {
    for (const char c : text) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ULL;
    }
  };
  mix(idempotency_key);
  mix("\n");
  mix(destination);
  char id[40];
  std::snprintf(
      id, sizeof id, "%013lld-%016llx",
      static_cast<long long>(kDeadClock - std::clamp<std::int64_t>(dead_at_ms, 0, kDeadClock)),
      static_cast<unsigned long long>(h));
  return id;
}

std::string dead_key(const OutboxEntry& e) {
  return std::string(kDeadPrefix) + dead_id(e.dead_at_ms, e.idempotency_key, e.destination);
}

// An entry written before deliveries were sealed holds the delivery's fields plainly beside the
// names: it is read as that delivery, sealed now, so it is sent (and kept) like any other.
std::optional<Delivery> legacy_delivery(const nlohmann::json& doc, const OutboxEntry& e) {
  Delivery d;
  d.route = e.route;
  d.destination = e.destination;
  d.idempotency_key = e.idempotency_key;
  const auto text_of = [&](const char* name, std::string& out) {
    const auto it = doc.find(name);
    if (it == doc.end() || !it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  if (!text_of("method", d.method) || !text_of("url", d.url) || !text_of("body", d.body)) {
    return std::nullopt;
  }
  const auto headers = doc.find("headers");
  if (headers == doc.end() || !headers->is_array()) return std::nullopt;
  for (const auto& pair : *headers) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
      return std::nullopt;
    }
    d.headers.push_back({pair[0].get<std::string>(), pair[1].get<std::string>()});
  }
  return d;
}

// `engine` seals an entry written before deliveries were sealed; without one (an admin request
// whose config cannot be built) such an entry is read without its delivery.
std::optional<OutboxEntry> read_entry(std::string_view text, const Engine* engine) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object()) return std::nullopt;
  const auto text_of = [&](const char* name, std::string& out) {
    const auto it = doc.find(name);
    if (it == doc.end() || !it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  const auto number_of = [&](const char* name, std::int64_t& out) {
    const auto it = doc.find(name);
    if (it == doc.end() || !it->is_number_integer()) return false;
    out = it->get<std::int64_t>();
    return true;
  };
  OutboxEntry e;
  std::int64_t attempts = 0;
  if (!number_of("attempts", attempts) || !number_of("next_at", e.next_at) ||
      !text_of("route", e.route) || !text_of("destination", e.destination) ||
      !text_of("idempotency_key", e.idempotency_key)) {
    return std::nullopt;
  }
  e.attempts = static_cast<int>(attempts);
  text_of("code", e.code);  // absent before the first failed attempt
  text_of("reason", e.reason);
  // Absent from entries written before they were kept: the call from the idempotency key, no
  // history.
  if (!text_of("call_sid", e.call_sid) || e.call_sid.empty()) {
    e.call_sid = call_sid_of_key(e.idempotency_key);
  }
  text_of("record_key", e.record_key);
  number_of("enqueued_at_ms", e.enqueued_at_ms);
  number_of("dead_at_ms", e.dead_at_ms);
  if (const auto history = doc.find("history"); history != doc.end() && history->is_array()) {
    for (const auto& a : *history) {
      if (!a.is_object()) continue;
      AttemptRecord r;
      if (const auto at = a.find("at_ms"); at != a.end() && at->is_number_integer()) {
        r.at_ms = at->get<std::int64_t>();
      }
      if (const auto st = a.find("status"); st != a.end() && st->is_number_integer()) {
        r.status = st->get<int>();
      }
      if (const auto c = a.find("code"); c != a.end() && c->is_string())
        r.code = c->get<std::string>();
      if (const auto w = a.find("reason"); w != a.end() && w->is_string()) {
        r.reason = w->get<std::string>();
      }
      e.history.push_back(std::move(r));
    }
  }
  // The sealed delivery is the engine's to read: whatever it is goes back to Engine::unseal,
  // which calls anything else bad_sealed and the attempt unsendable.
  const auto delivery = doc.find("delivery");
  if (delivery != doc.end()) {
    e.sealed = dump(*delivery);
  } else if (const auto legacy = legacy_delivery(doc, e); legacy && engine != nullptr) {
    e.sealed = engine->seal(*legacy);
  }
  return e;
}

// Whether `limit` entries or more wait in the outbox, from KV listings (eventually consistent,
// so approximate). A listing that fails admits: the writes that follow fail too if the store is
// really down, and are answered outbox-unavailable.
bool outbox_full(const fastly::KvStore& kv, std::int64_t limit, const Log& log) {
  std::int64_t count = 0;
  std::string cursor;
  do {
    auto page = kv.list(kOutboxPrefix, kListPage, cursor);
    if (!page) {
      log.event("warn", "the outbox could not be counted", page.error().message());
      return false;
    }
    count += static_cast<std::int64_t>(page->keys.size());
    cursor = std::move(page->next_cursor);
  } while (count < limit && !cursor.empty());
  return count >= limit;
}

class Outbox {
 public:
  Outbox(const fastly::KvStore& kv, const Engine& engine, const Log& log, std::int64_t now)
      : kv_(kv), engine_(engine), log_(log), now_(now) {}

  // A delivery sealed for the outbox, with its key.
  struct Pending {
    std::string key;
    OutboxEntry entry;
  };

  // Persists deliveries, sealed, before the sender is answered, leased to this run for
  // kLeaseSeconds.
  bool persist(const std::vector<Delivery>& deliveries, std::vector<Pending>& pending) const {
    for (const Delivery& d : deliveries) {
      OutboxEntry entry = entry_for(engine_, d, now_ + kLeaseSeconds);
      std::string key = entry_key(kOutboxPrefix, entry);
      auto written = kv_.insert(key, write_entry(entry), {});
      if (!written || !*written) {
        log_.event("error", "a delivery could not be written to the outbox",
                   written ? "precondition failed" : written.error().message(), d.idempotency_key);
        return false;
      }
      entry.next_at = 0;
      pending.push_back({std::move(key), std::move(entry)});
    }
    return true;
  }

  void attempt(const Pending& p) const { attempt(p.key, p.entry); }

  // Sends one entry now and records what happened. Past the run's backend budget the entry
  // stays as it is, leased, for a later run. Each step is the engine's (Engine::plan_send): the
  // sealed delivery is unsealed with the secrets of now (one that cannot be is unsendable: dead
  // at once), checked against its platform's deadline and its destination's rate limit, and
  // given its credentials, first minting an OAuth access token through the backend
  // `<destination>-token` when none is cached.
  void attempt(const std::string& key, OutboxEntry entry) const {
    if (sends_left_ <= 0) return;
    entry.attempts += 1;
    AttemptInput input{entry.route, entry.destination, entry.idempotency_key, entry.attempts,
                       {},          fastly::now_ms(),  fastly::random_unit()};
    std::optional<AttemptVerdict> decided;  // a verdict reached without sending (plan, token)
    bool sent = false;
    for (int round = 0; round < 3 && !decided && !sent; ++round) {
      const std::string token = cached_token(entry.destination);
      const SendPlan plan =
          engine_.plan_send(entry.sealed, token, pace_of(entry.destination), fastly::now_ms());
      switch (plan.kind) {
        case SendPlan::Kind::dead:
          decided = plan.verdict;
          break;
        case SendPlan::Kind::wait: {
          // The destination's rate limit: the entry waits in the outbox, no attempt counted.
          paces_[entry.destination] = plan.pace;
          entry.attempts -= 1;
          entry.next_at = (fastly::now_ms() + plan.wait_ms + 999) / 1000;
          if (auto kept = kv_.insert(key, write_entry(entry), {}); !kept || !*kept) {
            log_.event("warn", "a paced delivery could not be rescheduled (it is retried)",
                       kept ? "precondition failed" : kept.error().message(),
                       entry.idempotency_key);
          }
          return;
        }
        case SendPlan::Kind::need_token: {
          if (sends_left_ <= 0) return;
          --sends_left_;
          AttemptInput token_input = input;
          token_input.answer = send(entry.destination + "-token", plan.request);
          token_input.now_ms = fastly::now_ms();
          TokenOutcome outcome = engine_.token_result(token_input);
          if (outcome.verdict) {
            decided = std::move(outcome.verdict);
          } else {
            keep_token(entry.destination, outcome);
            input.fresh_token = true;
          }
          break;
        }
        case SendPlan::Kind::send: {
          if (sends_left_ <= 0) return;
          --sends_left_;
          paces_[entry.destination] = plan.pace;
          input.not_after_ms = plan.request.not_after_ms;
          input.answer = send(entry.destination, plan.request);
          input.now_ms = fastly::now_ms();
          sent = true;
          break;
        }
      }
    }
    if (!decided && !sent) {
      input.answer.kind = AttemptAnswer::Kind::unsendable;
      input.answer.error = "the destination asked for an access token again and again";
    }
    // Delivered, retried (and when) or dead: the engine decides, from the destination's policy.
    const AttemptVerdict verdict = decided ? *decided : engine_.attempt_result(input);
    if (verdict.drop_token) drop_token(entry.destination);
    log_.line(verdict.log);
    entry.code = verdict.code;
    // The reason may quote the destination's answer, which may echo what it was sent: it is
    // kept through the core's redaction, as everything at rest.
    entry.reason = engine_.redact(verdict.reason);
    AttemptRecord record{input.now_ms, std::nullopt, verdict.code,
                         verdict.kind == AttemptVerdict::Kind::delivered ? "" : entry.reason};
    if (sent && input.answer.kind == AttemptAnswer::Kind::answered) {
      record.status = input.answer.status;
    }
    entry.history.push_back(std::move(record));
    Tally& tally = tallies_[entry.destination];
    const std::string& id = entry.idempotency_key;
    if (verdict.kind == AttemptVerdict::Kind::delivered) {
      ++tally.delivered;
      if (auto removed = kv_.remove(key); !removed) {
        log_.event("warn", "delivered, but the outbox entry stays (it will be sent again)",
                   removed.error().message(), id);
      }
      return;
    }
    // An entry erased (or redriven over) while it was being sent is not written back.
    if (auto still = kv_.lookup(key); still && !*still) {
      log_.event("info", "the outbox entry went while it was being sent: not kept", {}, id);
      return;
    }
    if (verdict.kind == AttemptVerdict::Kind::retry) {
      ++tally.retried;
      entry.next_at = (verdict.retry_at_ms + 999) / 1000;
      if (auto kept = kv_.insert(key, write_entry(entry), {}); !kept || !*kept) {
        log_.event("error", "a failed delivery could not be rescheduled",
                   kept ? "precondition failed" : kept.error().message(), id);
      }
      return;
    }
    ++tally.dead;
    // Dead letter: kept for 30 days under dead/ for an operator to list, redrive, purge or
    // erase (the admin API), still sealed, with every attempt.
    entry.dead_at_ms = input.now_ms;
    if (auto dead = kv_.insert(dead_key(entry), write_entry(entry), expiring(kDeadTtlSeconds));
        !dead || !*dead) {
      log_.event("error", "a dead delivery could not be kept; it stays in the outbox",
                 dead ? "precondition failed" : dead.error().message(), id);
      return;
    }
    if (auto removed = kv_.remove(key); !removed) {
      log_.event("warn", "the dead delivery is still in the outbox", removed.error().message(), id);
    }
    log_.event("error", "delivery dead-lettered", entry.reason, id);
  }

  // The run's delivery counts as log lines, one per destination attempted:
  // {"level":"info","msg":"delivery_counts","destination","delivered","retried","dead"}. Summed
  // over the log endpoint's lines they are the service's counters (README, "Fastly Compute").
  void log_counts() const {
    for (const auto& [destination, t] : tallies_) {
      log_.line(dump({{"level", "info"},
                      {"msg", "delivery_counts"},
                      {"destination", destination},
                      {"delivered", t.delivered},
                      {"retried", t.retried},
                      {"dead", t.dead}}));
    }
    tallies_.clear();
  }

  // Retries up to `batch` entries whose time has come, each claimed first with a
  // generation-match write so that two runs never send the same entry at once.
  void retry_due(std::uint32_t batch, const std::vector<std::string>& skip) const {
    auto page = kv_.list(kOutboxPrefix, 100);
    if (!page) {
      log_.event("warn", "the outbox could not be listed", page.error().message());
      return;
    }
    std::uint32_t done = 0;
    for (const std::string& key : page->keys) {
      if (done >= batch || sends_left_ <= 0) break;
      if (std::find(skip.begin(), skip.end(), key) != skip.end()) continue;
      auto found = kv_.lookup(key);
      if (!found || !*found) continue;
      auto entry = read_entry((*found)->value, &engine_);
      if (!entry) {
        log_.event("error", "an unreadable outbox entry was left as it is", {}, key);
        continue;
      }
      if (entry->next_at > now_) continue;
      OutboxEntry claim = *entry;
      claim.next_at = now_ + kLeaseSeconds;
      auto claimed = kv_.insert(key, write_entry(claim), over((*found)->generation));
      if (!claimed || !*claimed) continue;  // another run took it
      ++done;
      attempt(key, *entry);
    }
  }

  [[nodiscard]] bool full(std::int64_t limit) const { return outbox_full(kv_, limit, log_); }

  // Keeps the rate-limit buckets this run used for the next runs (tokens/ and pace/ are
  // approximate across concurrent runs: KV Store writes are last-writer-wins).
  void save_paces() const {
    for (const auto& [destination, pace] : paces_) {
      const std::string value = dump({{"tokens", pace.tokens}, {"at_ms", pace.at_ms}});
      if (auto kept =
              kv_.insert(kv_key(kPacePrefix, destination), value, expiring(kPaceTtlSeconds));
          !kept) {
        log_.event("warn", "a rate-limit bucket could not be kept", kept.error().message());
      }
    }
  }

 private:
  // One request to a backend, as the engine reads answers.
  static AttemptAnswer send(const std::string& backend, const Delivery& d) {
    AttemptAnswer answer;
    auto response = fastly::send_to_backend(backend, d.method, d.url, d.headers, d.body);
    if (response) {
      answer.status = response->status;
      answer.headers = std::move(response->headers);
      answer.body = std::move(response->body);
    } else {
      answer.kind = AttemptAnswer::Kind::transport_error;
      answer.error = response.error().message();
    }
    return answer;
  }

  // The destination's OAuth access token, cached under tokens/ until a few minutes before it
  // expires (Engine::token_result's cache time, as the KV entry's time to live). This is the one
  // secret kept at rest, short-lived by design; refresh tokens and client secrets never are.
  std::string cached_token(const std::string& destination) const {
    if (const auto it = tokens_.find(destination); it != tokens_.end()) return it->second;
    std::string token;
    if (auto found = kv_.lookup(kv_key(kTokenPrefix, destination)); found && *found) {
      const nlohmann::json doc = nlohmann::json::parse((*found)->value, nullptr, false);
      if (doc.is_object() && doc.contains("access_token") && doc["access_token"].is_string() &&
          doc.contains("cache_until_ms") && doc["cache_until_ms"].is_number() &&
          doc["cache_until_ms"].get<std::int64_t>() > fastly::now_ms()) {
        token = doc["access_token"].get<std::string>();
      }
    }
    tokens_[destination] = token;
    return token;
  }

  void keep_token(const std::string& destination, const TokenOutcome& outcome) const {
    tokens_[destination] = outcome.access_token;
    const std::int64_t ttl_ms = outcome.cache_until_ms - fastly::now_ms();
    if (ttl_ms < 1000) return;
    const std::string value =
        dump({{"access_token", outcome.access_token}, {"cache_until_ms", outcome.cache_until_ms}});
    if (auto kept = kv_.insert(kv_key(kTokenPrefix, destination), value,
                               expiring(static_cast<std::uint32_t>(ttl_ms / 1000)));
        !kept) {
      log_.event("warn", "an access token could not be cached", kept.error().message());
    }
  }

  void drop_token(const std::string& destination) const {
    tokens_[destination].clear();
    if (auto removed = kv_.remove(kv_key(kTokenPrefix, destination)); !removed) {
      log_.event("warn", "a refused access token could not be forgotten",
                 removed.error().message());
    }
  }

  PaceState pace_of(const std::string& destination) const {
    if (const auto it = paces_.find(destination); it != paces_.end()) return it->second;
    PaceState pace;
    if (engine_.config().destination(destination) != nullptr &&
        engine_.config().destination(destination)->rate_limit.per_second > 0) {
      if (auto found = kv_.lookup(kv_key(kPacePrefix, destination)); found && *found) {
        const nlohmann::json doc = nlohmann::json::parse((*found)->value, nullptr, false);
        if (doc.is_object() && doc.contains("tokens") && doc["tokens"].is_number() &&
            doc.contains("at_ms") && doc["at_ms"].is_number_integer()) {
          pace.tokens = doc["tokens"].get<double>();
          pace.at_ms = doc["at_ms"].get<std::int64_t>();
        }
      }
    }
    paces_[destination] = pace;
    return pace;
  }

  mutable std::map<std::string, std::string> tokens_;
  mutable std::map<std::string, PaceState> paces_;

  const fastly::KvStore& kv_;
  const Engine& engine_;
  const Log& log_;
  std::int64_t now_;
  mutable int sends_left_ = kMaxSendsPerRun;
  struct Tally {
    std::int64_t delivered = 0;
    std::int64_t retried = 0;
    std::int64_t dead = 0;
  };
  mutable std::map<std::string, Tally> tallies_;
};

// ---- records ----------------------------------------------------------------------------------

std::string due_key(std::int64_t at, std::string_view record_key) {
  char stamp[24];
  std::snprintf(stamp, sizeof stamp, "%012lld/", static_cast<long long>(at));
  return kv_key(std::string(kDuePrefix) + stamp, record_key);
}

// The record store under the engine: compare-and-set through KV generations.
struct Settled {
  callhook::Outcome outcome;
  std::optional<fastly::KvStore::Entry> previous;  // what the record replaced
  bool stored = false;
};

enum class SettleError { none, store, conflict, outbox_full };

// Whether the outbox takes more deliveries: asked once per request, only of an outcome that has
// some, before anything of it is stored.
class Admission {
 public:
  Admission(const Outbox& outbox, std::int64_t limit, const Log& log)
      : outbox_(outbox), limit_(limit), log_(log) {}
  bool admits() const {
    if (!known_) {
      known_ = true;
      full_ = outbox_.full(limit_);
      if (full_) {
        log_.event("warn", "the outbox is full: deliveries are refused",
                   std::to_string(limit_) + " entries or more are waiting");
      }
    }
    return !full_;
  }

 private:
  const Outbox& outbox_;
  std::int64_t limit_;
  const Log& log_;
  mutable bool known_ = false;
  mutable bool full_ = false;
};

// Decides with `run(record)` on the record under `key` (empty: none to read) and stores what the
// outcome says to keep, with compare-and-set; on a conflict it reads again and decides again.
// `current` is the record already read, when `read`. An outcome with deliveries that the
// outbox does not admit stores nothing (SettleError::outbox_full).
template <class Run>
std::optional<Settled> settle(const fastly::KvStore& kv, const std::string& key,
                              std::optional<fastly::KvStore::Entry> current, bool read, Run run,
                              const Admission& admission, const Log& log, SettleError& error) {
  const auto lookup = [&]() -> bool {
    auto found = kv.lookup(kv_key("", key));
    if (!found) {
      log.event("error", "the record store could not be read", found.error().message(), key);
      error = SettleError::store;
      return false;
    }
    current = *found;
    return true;
  };
  if (!key.empty() && !read && !lookup()) return std::nullopt;
  callhook::Outcome outcome =
      run(current ? std::optional<std::string>(current->value) : std::nullopt);
  for (int conflicts = 0;;) {
    if (!outcome.deliveries.empty() && !admission.admits()) {
      error = SettleError::outbox_full;
      return std::nullopt;
    }
    if (!outcome.record || outcome.record_key.empty()) {
      return Settled{std::move(outcome), std::move(current), false};
    }
    if (outcome.record_key != key) {  // the engine names the record it decided on
      log.event("error", "the outcome's record is not the one read", outcome.record_key, key);
      error = SettleError::store;
      return std::nullopt;
    }
    fastly::KvStore::Write how;
    if (current) {
      how.if_generation_match = current->generation;
    } else {
      how.mode = fastly::KvStore::Mode::add;
    }
    how.ttl_seconds = ttl_until(outcome.record_expires_at, fastly::now_seconds());
    auto written = kv.insert(kv_key("", key), *outcome.record, how);
    if (!written) {
      log.event("error", "the record could not be stored", written.error().message(), key);
      error = SettleError::store;
      return std::nullopt;
    }
    if (*written) return Settled{std::move(outcome), std::move(current), true};
    if (++conflicts > kMaxConflictRetries) break;
    if (!lookup()) return std::nullopt;
    outcome = run(current ? std::optional<std::string>(current->value) : std::nullopt);
  }
  log.event("warn", "the record changed under every compare-and-set attempt", {}, key);
  error = SettleError::conflict;
  return std::nullopt;
}

// Puts the previous record back after its successor's deliveries could not be written.
void roll_back(const fastly::KvStore& kv, const Settled& settled, const Log& log) {
  const std::string key = kv_key("", settled.outcome.record_key);
  auto now = kv.lookup(key);
  if (!now || !*now || (*now)->value != *settled.outcome.record) {
    log.event("error", "the record could not be rolled back", "it changed meanwhile", key);
    return;
  }
  if (!settled.previous) {
    if (auto removed = kv.remove(key); !removed) {
      log.event("error", "the record could not be rolled back", removed.error().message(), key);
    }
    return;
  }
  auto restored = kv.insert(key, settled.previous->value, over((*now)->generation));
  if (!restored || !*restored) {
    log.event("error", "the record could not be rolled back",
              restored ? "precondition failed" : restored.error().message(), key);
  }
}

void index_due(const fastly::KvStore& kv, const callhook::Outcome& outcome, std::int64_t now,
               const Log& log) {
  if (!outcome.record || !outcome.record_sweep_at) return;
  const auto at = outcome.record_sweep_at;
  auto written =
      kv.insert(due_key(*at, outcome.record_key), "", expiring(ttl_until(*at + 7 * 86400, now)));
  if (!written || !*written) {
    log.event("error", "the call could not be scheduled for its sweep",
              written ? "precondition failed" : written.error().message(), outcome.record_key);
  }
}

// Where the config comes from, whether outcomes are traced, and the outbox's cap.
struct Settings {
  std::string config;
  std::optional<fastly::LogEndpoint> trace;
  std::int64_t outbox_limit = kDefaultOutboxLimit;
  // Where the engine came from, as traced: "snapshot" (the pre-initialized program's, see
  // "start-up") or "built" (from the config text, for this request). Set by load_engine.
  std::string_view engine_source = "built";
};

std::string_view embedded_config() {
  return {callhook_fastly_embedded_config, callhook_fastly_embedded_config_size};
}

// ---- start-up: what the pre-initializer snapshots ----------------------------------------------
//
// functions/fastly/build.sh runs Wizer on this program: Wizer calls `wizer.initialize` once, at
// build time, and writes the instance it leaves out as a new program whose `_start` is
// `wizer.resume`. Each request then starts from that memory. What runs there can call no hostcall
// (Wizer has none) and must read no secret (the snapshot ships in the package), so it is the part
// of the start-up that depends on the program alone:
//  - the C++ and libc constructors;
//  - the compiled-in config, read and checked with its `${NAME}` references left unbound
//    (callhook/config.h: parse_config_unbound), and its engine when it names no secret. A request
//    binds the secrets' values from the Secret Store (Engine::bind: a lookup per secret, no
//    parse). A config that cannot be read unbound (a reference where its value decides what the
//    config means, or an invalid config) leaves nothing here: each request parses it, as the
//    program that is not pre-initialized does.
// A request takes the snapshot's config when its config is the compiled-in one, byte for byte
// (the Config Store has no `config`, or holds that very text); any other config is built. When
// the secrets do not bind (one is not set, or its value fails its setting's check) the config is
// parsed with them, for the same errors and answer as without the snapshot.

struct Snapshot {
  std::optional<callhook::UnboundConfig> config;  // the compiled-in config, its secrets unbound
  std::optional<Engine> engine;                   // its engine, when it names no secret
};

// Set by pre_initialize (only ever under Wizer) and never freed: it lives as long as the
// instance. A plain pointer, constant-initialized, so that no constructor or destructor of the
// program ever touches it.
Snapshot* g_snapshot = nullptr;

void pre_initialize() {
  auto* snapshot = new Snapshot;
  snapshot->config = callhook::parse_config_unbound(embedded_config());
  if (snapshot->config && snapshot->config->names.empty()) {
    snapshot->engine = Engine::bind(std::move(*snapshot->config), nullptr);
    snapshot->config.reset();
  }
  g_snapshot = snapshot;
}

// The snapshot's engine for `config`, its secrets bound with `secrets`, once (a request moves it
// out); nullopt when there is none for that text or its secrets do not bind.
std::optional<Engine> take_snapshot_engine(std::string_view config,
                                           const callhook::SecretLookup& secrets) {
  if (g_snapshot == nullptr || config != embedded_config()) return std::nullopt;
  std::optional<Engine> engine = std::move(g_snapshot->engine);
  g_snapshot->engine.reset();
  if (!engine && g_snapshot->config) {
    engine = Engine::bind(std::move(*g_snapshot->config), secrets);
    g_snapshot->config.reset();
  }
  return engine;
}

std::optional<Settings> load_settings(std::string& why) {
  Settings settings{std::string(embedded_config()), std::nullopt, kDefaultOutboxLimit};
  auto store = fastly::ConfigStore::open(kConfigStore);
  if (!store) return settings;  // no Config Store linked: the config compiled in, no tracing
  auto value = store->get(kConfigKey);
  if (!value) {
    why = value.error().message();
    return std::nullopt;
  }
  if (*value) settings.config = std::move(**value);
  auto trace = store->get(kTraceKey);
  if (!trace) {
    why = trace.error().message();
    return std::nullopt;
  }
  if (*trace && **trace == "outcomes") {
    auto endpoint = fastly::LogEndpoint::open(kTraceEndpoint);
    if (!endpoint) {
      why = endpoint.error().message();
      return std::nullopt;
    }
    settings.trace = *endpoint;
  }
  auto limit = store->get(kOutboxLimitKey);
  if (!limit) {
    why = limit.error().message();
    return std::nullopt;
  }
  if (*limit) {
    const auto n = callhook::parse_decimal(**limit, 6);
    if (!n || *n < 1 || *n > 100000) {
      why = "outbox_limit must be a whole number from 1 to 100000";
      return std::nullopt;
    }
    settings.outbox_limit = *n;
  }
  return settings;
}

std::optional<callhook::Engine> load_engine(Settings& settings, const Log& log, std::string& why) {
  // Each secret is read once: when the snapshot's config does not bind, the parse below asks again.
  std::optional<fastly::SecretStore> secrets;
  bool opened = false;
  std::vector<std::pair<std::string, std::optional<std::string>>> read;
  const callhook::SecretLookup lookup = [&](std::string_view name) -> std::optional<std::string> {
    for (const auto& [n, value] : read) {
      if (n == name) return value;
    }
    if (!opened) {
      opened = true;
      if (auto store = fastly::SecretStore::open(kSecretStore)) secrets = *store;
    }
    std::optional<std::string> value;
    if (secrets) {
      auto got = secrets->get(name);
      if (got) {
        value = std::move(*got);
      } else {
        log.event("error", "a secret could not be read", got.error().message(), name);
      }
    }
    read.emplace_back(std::string(name), value);
    return value;
  };
  if (auto engine = take_snapshot_engine(settings.config, lookup)) {
    settings.engine_source = "snapshot";
    return engine;
  }
  settings.engine_source = "built";
  std::vector<callhook::Diagnostic> errors;
  auto engine = callhook::Engine::from_config(settings.config, lookup, &errors);
  if (!engine) {
    why = "the config is invalid:";
    for (const auto& e : errors) why += " " + e.field + ": " + e.message + ";";
    if (settings.trace) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& e : errors) {
        list.push_back({{"field", e.field}, {"code", e.code}, {"message", e.message}});
      }
      const std::string line = dump(
          {{"refused", true}, {"engine", settings.engine_source}, {"errors", std::move(list)}});
      if (auto written = settings.trace->write(line); !written) {
        log.event("warn", "the refusal could not be traced", written.error().message());
      }
    }
  }
  return engine;
}

void trace(const Settings& settings, const callhook::Outcome& outcome, const Log& log,
           std::string_view swept_key = {}) {
  if (!settings.trace) return;
  std::string line = "{\"refused\":false,\"engine\":" + dump(settings.engine_source) + ",";
  if (!swept_key.empty()) line += "\"sweep\":" + dump(swept_key) + ",";
  line += "\"outcome\":";
  callhook::write_outcome_json(outcome, line);
  line += '}';
  if (auto written = settings.trace->write(line); !written) {
    log.event("warn", "the outcome could not be traced", written.error().message());
  }
}

// Sweeps up to `batch` calls whose sweep time has passed (abandoned calls fire their routes).
// A sweep whose deliveries the outbox does not admit waits in the index for a later request.
void sweep_due(const fastly::KvStore& kv, const callhook::Engine& engine, const Outbox& outbox,
               const Admission& admission, std::int64_t now, std::uint32_t batch,
               const Settings& settings, const Log& log) {
  auto page = kv.list(kDuePrefix, batch);
  if (!page) {
    log.event("warn", "the sweep index could not be listed", page.error().message());
    return;
  }
  for (const std::string& due : page->keys) {
    // due/<12-digit time>/<escaped record key>
    const std::string_view rest = std::string_view(due).substr(kDuePrefix.size());
    const auto at = rest.size() < 13 || rest[12] != '/'
                        ? std::nullopt
                        : callhook::parse_decimal(rest.substr(0, 12), 12);
    if (!at) continue;     // not one this program wrote
    if (*at > now) break;  // keys are in time order
    const std::string escaped(rest.substr(13));
    auto found = kv.lookup(escaped);
    if (!found) continue;
    // The first sweep names the call's record key (a record it cannot read has none) and is
    // the first decision too; only a lost compare-and-set sweeps again.
    std::optional<callhook::Outcome> first;
    if (*found) first = engine.sweep((*found)->value, now);
    const std::string key = first ? first->record_key : std::string();
    if (*found && key.empty()) {
      log.event("error", "an unreadable record was left as it is", {}, escaped);
    } else if (*found) {
      SettleError error = SettleError::none;
      auto settled = settle(
          kv, key, *found, true,
          [&](const std::optional<std::string>& stored) {
            if (first) {
              callhook::Outcome outcome = std::move(*first);
              first.reset();
              return outcome;
            }
            return stored ? engine.sweep(*stored, now) : callhook::Outcome{};
          },
          admission, log, error);
      if (!settled) continue;  // left in the index: the next request tries again
      trace(settings, settled->outcome, log, key);
      if (settled->stored) {
        std::vector<Outbox::Pending> pending;
        if (!outbox.persist(settled->outcome.deliveries, pending)) {
          roll_back(kv, *settled, log);
          continue;
        }
        log.line(settled->outcome.log);
        index_due(kv, settled->outcome, now, log);
        for (const Outbox::Pending& p : pending) outbox.attempt(p);
      }
    }
    if (auto removed = kv.remove(due); !removed) {
      log.event("warn", "a sweep index entry could not be removed", removed.error().message(), due);
    }
  }
}

// ---- the admin API ----------------------------------------------------------------------------
//
// /admin/... (README, "Fastly Compute": the admin API), behind the token in the Secret Store
// (key `admin_token`): callhook::admin_check decides who may use it, and every refusal is the
// core's. Dead letters are the dead/ entries, listed newest first by their keys. Fastly bounds a
// request's CPU time, so one admin request makes at most kAdminLookups KV lookups: past them the
// answer says "complete": false and the operator asks again (a listing with until_ms at the
// oldest one it gave, a redrive or purge with the same selection, an erasure with the cursor it
// answered).

constexpr std::string_view kAdminTokenKey = "admin_token";
constexpr std::int64_t kDefaultListLimit = 100;
constexpr std::int64_t kMaxListLimit = 1000;
constexpr std::size_t kMaxIds = 1000;
constexpr int kAdminLookups = 250;
constexpr std::uint32_t kAdminPage = 250;
constexpr int kMetricsPages = 100;  // keys listed for /admin/metrics: at most 100 pages of 1000

// `text` percent-decoded ('+' as a space when `plus_is_space`); nullopt for a bad escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  const auto hex = [](char h) -> int {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex(text[i + 1]);
      const int lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

// The request's query parameters, percent-decoded; nullopt for bad encoding.
std::optional<std::vector<std::pair<std::string, std::string>>> query_of(std::string_view url) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto q = url.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view rest = url.substr(q + 1);
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq), true);
    auto value = percent_decode(
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!name || !value) return std::nullopt;
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

// Which dead letters: every field given must hold (since_ms <= dead_at_ms < until_ms).
struct DeadFilter {
  std::optional<std::string> destination;
  std::optional<std::string> route;
  std::optional<std::string> code;
  std::optional<std::int64_t> since_ms;
  std::optional<std::int64_t> until_ms;
  std::optional<std::int64_t> limit;  // the newest `limit` that match

  [[nodiscard]] bool matches(const OutboxEntry& e) const {
    return (!destination || e.destination == *destination) && (!route || e.route == *route) &&
           (!code || e.code == *code) && (!since_ms || e.dead_at_ms >= *since_ms) &&
           (!until_ms || e.dead_at_ms < *until_ms);
  }
};

// A redrive's or purge's selection: ids, or a filter.
struct Selection {
  bool by_ids = false;
  std::vector<std::string> ids;
  DeadFilter filter;
};

struct DeadLetter {
  std::string id;  // the key after dead/
  std::string key;
  OutboxEntry entry;
};

// The time a dead/ key says (its id's first part), or nullopt for a key of an older form.
std::optional<std::int64_t> time_of_dead_key(std::string_view key) {
  const std::string_view id = key.substr(kDeadPrefix.size());
  if (id.size() != 30 || id[13] != '-') return std::nullopt;
  const auto inverted = callhook::parse_decimal(id.substr(0, 13), 13);
  if (!inverted) return std::nullopt;
  return kDeadClock - *inverted;
}

// A dead letter as the admin API shows it.
nlohmann::json letter_json(const DeadLetter& l, bool with_sealed) {
  const OutboxEntry& e = l.entry;
  nlohmann::json history = nlohmann::json::array();
  for (const AttemptRecord& a : e.history) {
    history.push_back({{"at_ms", a.at_ms},
                       {"status", a.status ? nlohmann::json(*a.status) : nlohmann::json(nullptr)},
                       {"code", a.code},
                       {"reason", a.reason}});
  }
  nlohmann::json doc = {{"id", l.id},
                        {"route", e.route},
                        {"destination", e.destination},
                        {"idempotency_key", e.idempotency_key},
                        {"call_sid", e.call_sid},
                        {"record_key", e.record_key},
                        {"attempts", e.attempts},
                        {"history", std::move(history)},
                        {"code", e.code},
                        {"reason", e.reason},
                        {"dead_at_ms", e.dead_at_ms},
                        {"enqueued_at_ms", e.enqueued_at_ms != 0 ? nlohmann::json(e.enqueued_at_ms)
                                                                 : nlohmann::json(nullptr)}};
  if (with_sealed) doc["sealed"] = e.sealed;
  return doc;
}

callhook::Response json_response(const nlohmann::json& doc) {
  return callhook::Response{
      200, {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}}, dump(doc)};
}

class Admin {
 public:
  Admin(const callhook::Request& req, const callhook::FrontDoorRoute& door, const Log& log)
      : req_(req), door_(door), log_(log) {}

  // Answers the request; returns true when the program should then move the outbox along (a
  // redrive put deliveries back in it).
  bool serve() {
    const std::string token = admin_token();
    if (auto refused = callhook::admin_check(req_.header("Authorization"), token)) {
      answer(*refused, log_);
      return false;
    }
    auto kv = fastly::KvStore::open(kKvStore);
    if (!kv) {
      log_.event("error", "the KV store is not linked", kv.error().message());
      answer_refusal(callhook::Refusal::store_unavailable, log_);
      return false;
    }
    kv_ = &*kv;
    const std::optional<callhook::Response> response = dispatch();
    if (failed_) {
      answer_refusal(callhook::Refusal::store_unavailable, log_);
      return false;
    }
    answer(response ? *response : callhook::refusal(callhook::Refusal::bad_admin_request, bad_),
           log_);
    return redriven_ > 0;
  }

  // The Config Store's settings, when it can be read.
  const std::optional<Settings>& settings() {
    if (!settings_tried_) {
      settings_tried_ = true;
      std::string why;
      settings_ = load_settings(why);
      if (!settings_) log_.event("error", "the Config Store could not be read", why);
    }
    return settings_;
  }

  // The engine, when the config builds (rerender and the outbox's sends need it; the rest of
  // the admin API does not, so that dead letters can be seen while the config is broken).
  const Engine* engine() {
    if (!engine_tried_) {
      engine_tried_ = true;
      std::string why;
      if (settings()) engine_ = load_engine(*settings_, log_, why);
      if (settings_ && !engine_) log_.event("error", "the engine could not be built", why);
    }
    return engine_ ? &*engine_ : nullptr;
  }

 private:
  static std::string admin_token() {
    auto store = fastly::SecretStore::open(kSecretStore);
    if (!store) return {};
    auto value = store->get(kAdminTokenKey);
    if (!value || !*value) return {};
    return **value;
  }

  // nullopt: a bad request, `bad_` says why.
  std::optional<callhook::Response> bad(std::string why) {
    bad_ = std::move(why);
    return std::nullopt;
  }

  static callhook::Response not_allowed(std::string_view allow) {
    callhook::Response r =
        callhook::refusal(callhook::Refusal::method_not_allowed,
                          "This admin endpoint answers " + std::string(allow) + ".");
    for (HttpHeader& h : r.headers) {
      if (h.name == "Allow") h.value = std::string(allow);
    }
    return r;
  }

  std::optional<callhook::Response> dispatch() {
    const std::string& path = door_.path;
    const bool read = req_.method == "GET" || req_.method == "HEAD";
    const bool post = req_.method == "POST";
    if (path == "/admin/dead-letters") return read ? list() : not_allowed("GET, HEAD");
    if (path == "/admin/dead-letters/redrive") return post ? redrive() : not_allowed("POST");
    if (path == "/admin/dead-letters/purge") return post ? purge() : not_allowed("POST");
    if (path == "/admin/erase") return post ? erase() : not_allowed("POST");
    if (path == "/admin/metrics") return read ? metrics() : not_allowed("GET, HEAD");
    constexpr std::string_view kOne = "/admin/dead-letters/";
    if (path.starts_with(kOne) && path.size() > kOne.size() &&
        path.find('/', kOne.size()) == std::string::npos) {
      const auto id = percent_decode(std::string_view(path).substr(kOne.size()), false);
      if (!id) return bad("The dead letter id is not valid percent-encoding.");
      if (read) return show(*id);
      if (req_.method == "DELETE") return purge_one(*id);
      return not_allowed("GET, HEAD, DELETE");
    }
    return callhook::refusal(
        callhook::Refusal::not_found,
        "The admin API has /admin/dead-letters, /admin/dead-letters/ID, "
        "/admin/dead-letters/redrive, /admin/dead-letters/purge, /admin/erase and /admin/metrics.");
  }

  // ---- reading dead letters ---------------------------------------------------------------------

  // The dead letter under `key`, or nullopt (absent, unreadable, or the store failed: failed_).
  std::optional<DeadLetter> read_letter(const std::string& key) {
    ++lookups_;
    auto found = kv_->lookup(key);
    if (!found) {
      log_.event("error", "a dead letter could not be read", found.error().message(), key);
      failed_ = true;
      return std::nullopt;
    }
    if (!*found) return std::nullopt;
    auto entry = read_entry((*found)->value, nullptr);
    if (entry && entry->sealed.empty()) {
      // Written before deliveries were sealed: the engine seals it, so a redrive keeps it.
      if (const Engine* eng = engine()) entry = read_entry((*found)->value, eng);
    }
    if (!entry) return std::nullopt;
    if (entry->dead_at_ms == 0) {  // written before the time was kept
      if (const auto t = time_of_dead_key(key)) {
        entry->dead_at_ms = *t;
      } else if (!entry->history.empty()) {
        entry->dead_at_ms = entry->history.back().at_ms;
      }
    }
    return DeadLetter{key.substr(kDeadPrefix.size()), key, std::move(*entry)};
  }

  // Calls take(letter) for each dead letter `filter` matches, newest first, until it returns
  // false. False when the lookup budget ran out first (more may match).
  template <class Take>
  bool scan(const DeadFilter& filter, Take take) {
    std::string cursor;
    do {
      auto page = kv_->list(kDeadPrefix, kAdminPage, cursor);
      if (!page) {
        log_.event("error", "the dead letters could not be listed", page.error().message());
        failed_ = true;
        return true;
      }
      for (const std::string& key : page->keys) {
        if (const auto t = time_of_dead_key(key)) {
          if (filter.until_ms && *t >= *filter.until_ms) continue;
          if (filter.since_ms && *t < *filter.since_ms) return true;  // older ones follow
        }
        if (lookups_ >= kAdminLookups) return false;
        auto letter = read_letter(key);
        if (failed_) return true;
        if (!letter || !filter.matches(letter->entry)) continue;
        if (!take(std::move(*letter))) return true;
      }
      cursor = std::move(page->next_cursor);
    } while (!cursor.empty());
    return true;
  }

  // A filter's fields from the query or a body: each name once; unknown names are refused.
  bool filter_field(DeadFilter& f, const std::string& name, const nlohmann::json& value,
                    std::int64_t max_limit) {
    const auto text = [&](std::optional<std::string>& into) {
      if (!value.is_string() || value.get<std::string>().empty()) {
        bad_ = name + " must be a non-empty string.";
        return false;
      }
      into = value.get<std::string>();
      return true;
    };
    const auto number = [&](std::optional<std::int64_t>& into, std::int64_t lo, std::int64_t hi) {
      std::optional<std::int64_t> n;
      if (value.is_number_unsigned() || value.is_number_integer()) {
        n = value.get<std::int64_t>();
      } else if (value.is_string()) {
        n = callhook::parse_decimal(value.get<std::string>(), 16);
      }
      if (!n || *n < lo || *n > hi) {
        bad_ = name == "limit"
                   ? "limit must be a whole number from 1 to " + std::to_string(hi) + "."
                   : name + " must be epoch milliseconds (a whole number).";
        return false;
      }
      into = n;
      return true;
    };
    if (name == "destination") return text(f.destination);
    if (name == "route") return text(f.route);
    if (name == "code") return text(f.code);
    if (name == "since_ms") return number(f.since_ms, 0, 9'007'199'254'740'991);
    if (name == "until_ms") return number(f.until_ms, 0, 9'007'199'254'740'991);
    if (name == "limit") return number(f.limit, 1, max_limit);
    bad_ = "Unknown field \"" + name +
           "\": a filter takes destination, route, code, since_ms, until_ms and limit.";
    return false;
  }

  std::optional<callhook::Response> list() {
    const auto query = query_of(req_.url);
    if (!query) return bad("The query is not valid percent-encoding.");
    DeadFilter filter;
    std::vector<std::string> seen;
    for (const auto& [name, value] : *query) {
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
        return bad(name + " is given twice.");
      }
      seen.push_back(name);
      if (!filter_field(filter, name, value, kMaxListLimit)) return std::nullopt;
    }
    const std::int64_t limit = filter.limit.value_or(kDefaultListLimit);
    nlohmann::json letters = nlohmann::json::array();
    const bool complete = scan(filter, [&](DeadLetter l) {
      letters.push_back(letter_json(l, false));
      return static_cast<std::int64_t>(letters.size()) < limit;
    });
    const auto count = letters.size();
    nlohmann::json doc = {{"dead_letters", std::move(letters)}, {"count", count}};
    if (!complete) doc["complete"] = false;
    return json_response(doc);
  }

  // An id names the key dead/ID: ids hold no character a KV key may not.
  static bool plausible_id(std::string_view id) {
    if (id.empty() || id.size() > 900) return false;
    return std::none_of(id.begin(), id.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u < 0x20 || u == 0x7f || c == '[' || c == ']' || c == '*' || c == '?' || c == '#';
    });
  }

  std::optional<callhook::Response> show(const std::string& id) {
    if (plausible_id(id)) {
      if (auto letter = read_letter(std::string(kDeadPrefix) + id)) {
        return json_response(letter_json(*letter, true));
      }
    }
    return callhook::refusal(callhook::Refusal::dead_letter_not_found);
  }

  std::optional<callhook::Response> purge_one(const std::string& id) {
    if (!plausible_id(id) || !read_letter(std::string(kDeadPrefix) + id)) {
      if (failed_) return std::nullopt;
      return callhook::refusal(callhook::Refusal::dead_letter_not_found);
    }
    if (!remove(std::string(kDeadPrefix) + id)) return std::nullopt;
    log_.line(dump({{"level", "info"}, {"msg", "admin_purge"}, {"purged", 1}}));
    return json_response({{"purged", 1}});
  }

  bool remove(const std::string& key) {
    if (auto removed = kv_->remove(key); !removed) {
      log_.event("error", "a KV entry could not be removed", removed.error().message(), key);
      failed_ = true;
      return false;
    }
    return true;
  }

  // ---- redrive and purge ------------------------------------------------------------------------

  std::optional<nlohmann::json> body_object() {
    if (req_.body.find_first_not_of(" \t\r\n") == std::string::npos)
      return nlohmann::json::object();
    nlohmann::json doc = nlohmann::json::parse(req_.body, nullptr, false);
    if (doc.is_discarded()) {
      bad_ = "The body is not JSON.";
      return std::nullopt;
    }
    if (!doc.is_object()) {
      bad_ = "The body must be a JSON object.";
      return std::nullopt;
    }
    return doc;
  }

  // {"ids": [...]} or a filter, and (redrive) "rerender".
  std::optional<Selection> selection_of(const nlohmann::json& doc, bool* rerender) {
    Selection sel;
    for (const auto& [name, value] : doc.items()) {
      if (name == "rerender" && rerender != nullptr) {
        if (!value.is_boolean()) {
          bad_ = "rerender must be true or false.";
          return std::nullopt;
        }
        *rerender = value.get<bool>();
      } else if (name == "rerender") {
        bad_ = "rerender is for redrive only.";
        return std::nullopt;
      } else if (name == "ids") {
        sel.by_ids = true;
        if (!value.is_array() || value.empty() || value.size() > kMaxIds) {
          bad_ = "ids must be an array of 1 to " + std::to_string(kMaxIds) + " dead letter ids.";
          return std::nullopt;
        }
        for (const auto& id : value) {
          if (!id.is_string() || id.get<std::string>().empty()) {
            bad_ = "ids must be an array of 1 to " + std::to_string(kMaxIds) + " dead letter ids.";
            return std::nullopt;
          }
          sel.ids.push_back(id.get<std::string>());
        }
      } else if (!filter_field(sel.filter, name, value, 9'007'199'254'740'991)) {
        return std::nullopt;
      }
    }
    const bool has_filter = sel.filter.destination || sel.filter.route || sel.filter.code ||
                            sel.filter.since_ms || sel.filter.until_ms || sel.filter.limit;
    if (sel.by_ids && has_filter) {
      bad_ = "Give either ids or a filter, not both.";
      return std::nullopt;
    }
    return sel;
  }

  // The selected dead letters, at most the lookup budget's worth; `complete` false when more
  // may be selected.
  std::vector<DeadLetter> selected(const Selection& sel, bool& complete) {
    std::vector<DeadLetter> out;
    complete = true;
    if (sel.by_ids) {
      for (const std::string& id : sel.ids) {
        if (lookups_ >= kAdminLookups) {
          complete = false;
          break;
        }
        if (!plausible_id(id)) continue;
        if (std::any_of(out.begin(), out.end(), [&](const DeadLetter& l) { return l.id == id; })) {
          continue;
        }
        auto letter = read_letter(std::string(kDeadPrefix) + id);
        if (failed_) break;
        if (letter) out.push_back(std::move(*letter));
      }
      return out;
    }
    const std::int64_t limit = sel.filter.limit.value_or(INT64_MAX);
    complete = scan(sel.filter, [&](DeadLetter l) {
      out.push_back(std::move(l));
      return static_cast<std::int64_t>(out.size()) < limit;
    });
    return out;
  }

  std::optional<callhook::Response> purge() {
    const auto doc = body_object();
    if (!doc) return std::nullopt;
    const auto sel = selection_of(*doc, nullptr);
    if (!sel) return std::nullopt;
    bool complete = true;
    std::int64_t purged = 0;
    for (const DeadLetter& l : selected(*sel, complete)) {
      if (!remove(l.key)) return std::nullopt;
      ++purged;
    }
    if (failed_) return std::nullopt;
    log_.line(dump({{"level", "info"}, {"msg", "admin_purge"}, {"purged", purged}}));
    nlohmann::json answer_doc = {{"purged", purged}};
    if (!complete) answer_doc["complete"] = false;
    return json_response(answer_doc);
  }

  // For an `event` delivery, which event fired it: the middle of its idempotency key.
  static std::string event_of(const OutboxEntry& e) {
    const std::string head = e.call_sid + ":";
    const std::string tail = ":" + e.route;
    const std::string& key = e.idempotency_key;
    if (e.call_sid.empty() || !key.starts_with(head) || !key.ends_with(tail) ||
        key.size() <= head.size() + tail.size()) {
      return {};
    }
    return key.substr(head.size(), key.size() - head.size() - tail.size());
  }

  // The delivery's trigger: its sealed text says it (a plain name there), or its idempotency key.
  static std::string trigger_of(const OutboxEntry& e) {
    const nlohmann::json sealed = nlohmann::json::parse(e.sealed, nullptr, false);
    if (sealed.is_object()) {
      if (const auto t = sealed.find("trigger");
          t != sealed.end() && t->is_string() && !t->get<std::string>().empty()) {
        return t->get<std::string>();
      }
    }
    const std::string what = event_of(e);
    if (what == "complete" || what == "abandoned") return what;
    return what.empty() ? std::string() : "event";
  }

  // Puts each selected dead letter back in the outbox as it was (same key, same Idempotency-Key),
  // attempts and history reset, due now; with "rerender" first rendered again from its call's
  // record with the config of now (Engine::rerender). A letter whose delivery already waits in
  // the outbox again is left as it is.
  std::optional<callhook::Response> redrive() {
    const auto doc = body_object();
    if (!doc) return std::nullopt;
    bool rerender = false;
    const auto sel = selection_of(*doc, &rerender);
    if (!sel) return std::nullopt;
    const Engine* eng = rerender ? engine() : nullptr;
    if (rerender && eng == nullptr) return callhook::refusal(callhook::Refusal::config_invalid);
    const auto& limits = settings();
    if (outbox_full(*kv_, limits ? limits->outbox_limit : kDefaultOutboxLimit, log_)) {
      return callhook::refusal(callhook::Refusal::outbox_full);
    }
    bool complete = true;
    std::int64_t redriven = 0;
    nlohmann::json skipped = nlohmann::json::array();
    const std::int64_t now_ms = fastly::now_ms();
    for (DeadLetter& l : selected(*sel, complete)) {
      OutboxEntry e = std::move(l.entry);
      if (rerender) {
        const auto skip = [&](std::string_view code, std::string_view reason) {
          skipped.push_back({{"id", l.id}, {"code", code}, {"reason", eng->redact(reason)}});
        };
        if (e.record_key.empty()) {
          skip("no_record",
               "The dead letter names no call record (correlation off, or stored before it was "
               "kept).");
          continue;
        }
        ++lookups_;
        auto record = kv_->lookup(kv_key("", e.record_key));
        if (!record) {
          failed_ = true;
          return std::nullopt;
        }
        if (!*record) {
          skip("record_gone",
               "The call's record is gone (expired or erased); redrive it without rerender to send "
               "it as it was.");
          continue;
        }
        const std::string trigger = trigger_of(e);
        const std::string event = trigger == "event" ? event_of(e) : std::string();
        callhook::Rerendered again = eng->rerender(callhook::RerenderRequest{
            (*record)->value, e.route, e.destination, trigger, event, fastly::now_seconds()});
        if (!again.delivery) {
          skip(again.error.code, again.error.message);
          continue;
        }
        e.sealed = eng->seal(*again.delivery);
      }
      e.attempts = 0;
      e.history.clear();
      e.code.clear();
      e.reason.clear();
      e.dead_at_ms = 0;
      e.next_at = 0;
      e.enqueued_at_ms = now_ms;
      fastly::KvStore::Write how;
      how.mode = fastly::KvStore::Mode::add;
      auto written = kv_->insert(entry_key(kOutboxPrefix, e), write_entry(e), how);
      if (!written) {
        log_.event("error", "a dead letter could not be put back in the outbox",
                   written.error().message(), e.idempotency_key);
        failed_ = true;
        return std::nullopt;
      }
      if (!*written) continue;  // the delivery waits in the outbox already
      // In the outbox: only now does it leave the dead letters (a failure in between sends it
      // twice, with the same Idempotency-Key).
      if (!remove(l.key)) return std::nullopt;
      ++redriven;
    }
    if (failed_) return std::nullopt;
    redriven_ = redriven;
    log_.line(dump({{"level", "info"},
                    {"msg", "admin_redrive"},
                    {"rerender", rerender},
                    {"redriven", redriven},
                    {"skipped", skipped.size()}}));
    nlohmann::json answer_doc = {{"redriven", redriven}};
    if (rerender) answer_doc["skipped"] = std::move(skipped);
    if (!complete) answer_doc["complete"] = false;
    return json_response(answer_doc);
  }

  // ---- erasure ----------------------------------------------------------------------------------

  // Erases a call ({"call_sid"}) or a caller ({"phone"}): every record the core says concerns
  // it (callhook::mentions), then every outbox entry, dead letter and sweep index entry of those
  // calls, or whose text concerns it. One pass over the KV Store's keys in key order (records,
  // whose keys are Account.Sid:Call.Sid, sort before dead/, due/ and outbox/); past the lookup
  // budget the answer has "complete": false and a "cursor" to send back as it is.
  std::optional<callhook::Response> erase() {
    const auto doc = body_object();
    if (!doc) return std::nullopt;
    std::string call_sid;
    std::string phone;
    const nlohmann::json* cursor = nullptr;
    int named = 0;
    for (const auto& [name, value] : doc->items()) {
      if (name == "cursor") {
        if (!value.is_object())
          return bad("cursor must be the object a previous erasure answered.");
        cursor = &value;
        continue;
      }
      if ((name != "call_sid" && name != "phone") || !value.is_string() ||
          value.get<std::string>().find_first_not_of(" \t") == std::string::npos) {
        return bad(
            "The body must be exactly one of {\"call_sid\": \"CA...\"} or {\"phone\": \"+1...\"}.");
      }
      (name == "call_sid" ? call_sid : phone) = value.get<std::string>();
      ++named;
    }
    if (named != 1) {
      return bad(
          "The body must be exactly one of {\"call_sid\": \"CA...\"} or {\"phone\": \"+1...\"}.");
    }
    callhook::ErasureProblem problem;
    const auto subject = callhook::erasure_subject(call_sid, phone, problem);
    if (!subject) return bad(problem.message);

    // What earlier requests of this erasure found: the calls and records it erased.
    std::vector<std::string> sids;
    std::vector<std::string> record_keys;  // as KV keys
    std::string kv_cursor;
    std::int64_t records = 0;
    std::int64_t outbox = 0;
    std::int64_t dead = 0;
    if (cursor != nullptr) {
      const auto strings = [&](const char* name, std::vector<std::string>& into) {
        const auto it = cursor->find(name);
        if (it == cursor->end() || !it->is_array()) return;
        for (const auto& v : *it) {
          if (v.is_string()) into.push_back(v.get<std::string>());
        }
      };
      strings("calls", sids);
      strings("records", record_keys);
      if (const auto it = cursor->find("kv"); it != cursor->end() && it->is_string()) {
        kv_cursor = it->get<std::string>();
      }
      const auto count = [&](const char* name, std::int64_t& into) {
        const auto it = cursor->find(name);
        if (it != cursor->end() && it->is_number_integer()) into = it->get<std::int64_t>();
      };
      count("records_so_far", records);
      count("outbox_so_far", outbox);
      count("dead_letters_so_far", dead);
    }
    if (!subject->call_sid.empty() &&
        std::find(sids.begin(), sids.end(), subject->call_sid) == sids.end()) {
      sids.push_back(subject->call_sid);
    }
    const auto known = [](const std::vector<std::string>& v, const std::string& x) {
      return std::find(v.begin(), v.end(), x) != v.end();
    };
    bool complete = true;
    do {
      if (lookups_ >= kAdminLookups) {
        complete = false;
        break;
      }
      auto page = kv_->list("", kAdminPage, kv_cursor);
      if (!page) {
        log_.event("error", "the KV store could not be listed", page.error().message());
        failed_ = true;
        return std::nullopt;
      }
      for (const std::string& key : page->keys) {
        const std::string_view k(key);
        if (k.starts_with(kDuePrefix)) {
          // due/<12-digit time>/<record key>: a sweep of an erased call.
          const std::string_view rest = k.substr(kDuePrefix.size());
          if (rest.size() > 13 && known(record_keys, std::string(rest.substr(13)))) {
            if (!remove(key)) return std::nullopt;
          }
          continue;
        }
        const bool is_outbox = k.starts_with(kOutboxPrefix);
        const bool is_dead = k.starts_with(kDeadPrefix);
        if (!is_outbox && !is_dead && k.find('/') != std::string_view::npos) continue;
        ++lookups_;
        auto found = kv_->lookup(key);
        if (!found) {
          failed_ = true;
          return std::nullopt;
        }
        if (!*found) continue;
        const std::string& text = (*found)->value;
        if (!is_outbox && !is_dead) {  // a record
          if (!callhook::mentions(text, *subject)) continue;
          if (!remove(key)) return std::nullopt;
          ++records;
          if (!known(record_keys, key)) record_keys.push_back(key);
          const auto colon = key.find(':');
          const std::string sid =
              colon == std::string::npos ? std::string() : key.substr(colon + 1);
          if (!sid.empty() && !known(sids, sid)) sids.push_back(sid);
          continue;
        }
        const auto entry = read_entry(text, nullptr);
        bool doomed = callhook::mentions(text, *subject);
        if (!doomed && entry) {
          doomed =
              known(sids, entry->call_sid) ||
              (!entry->record_key.empty() && known(record_keys, kv_key("", entry->record_key)));
        }
        if (!doomed) continue;
        if (!remove(key)) return std::nullopt;
        ++(is_outbox ? outbox : dead);
      }
      kv_cursor = std::move(page->next_cursor);
    } while (!kv_cursor.empty());
    log_.line(dump({{"level", "info"},
                    {"msg", "admin_erase"},
                    {"by", call_sid.empty() ? "phone" : "call_sid"},
                    {"records", records},
                    {"outbox", outbox},
                    {"dead_letters", dead},
                    {"complete", complete}}));
    nlohmann::json answer_doc = {{"records", records}, {"outbox", outbox}, {"dead_letters", dead}};
    if (!complete) {
      answer_doc["complete"] = false;
      answer_doc["cursor"] = {{"kv", kv_cursor},         {"calls", sids},
                              {"records", record_keys},  {"records_so_far", records},
                              {"outbox_so_far", outbox}, {"dead_letters_so_far", dead}};
    }
    return json_response(answer_doc);
  }

  // ---- metrics ----------------------------------------------------------------------------------

  // Gauges read from KV listings (no lookups): deliveries waiting in the outbox by destination
  // (the last part of each outbox key), and dead letters kept. The counters are the log lines
  // (delivery_counts).
  std::optional<callhook::Response> metrics() {
    std::map<std::string, std::int64_t> pending;
    std::int64_t dead = 0;
    bool complete = true;
    const auto each_key = [&](std::string_view prefix, auto fn) {
      std::string cursor;
      int pages = 0;
      do {
        if (++pages > kMetricsPages) {
          complete = false;
          return true;
        }
        auto page = kv_->list(prefix, kListPage, cursor);
        if (!page) {
          log_.event("error", "the KV store could not be listed", page.error().message());
          failed_ = true;
          return false;
        }
        for (const std::string& key : page->keys) fn(key);
        cursor = std::move(page->next_cursor);
      } while (!cursor.empty());
      return true;
    };
    // kv_key's escapes are %XX, so percent-decoding undoes them.
    const auto unescape = [](std::string_view text) {
      return percent_decode(text, false).value_or(std::string(text));
    };
    if (!each_key(kOutboxPrefix, [&](const std::string& key) {
          const auto slash = key.rfind('/');
          ++pending[unescape(std::string_view(key).substr(slash + 1))];
        })) {
      return std::nullopt;
    }
    if (!each_key(kDeadPrefix, [&](const std::string&) { ++dead; })) return std::nullopt;
    const auto label = [](std::string_view v) {
      std::string o;
      for (const char c : v) {
        if (c == '\\' || c == '"') o += '\\';
        if (c == '\n') {
          o += "\\n";
          continue;
        }
        o += c;
      }
      return o;
    };
    std::string text =
        "# HELP callhook_outbox_pending Deliveries waiting in the KV outbox, by destination (from "
        "KV listings: eventually consistent).\n# TYPE callhook_outbox_pending gauge\n";
    for (const auto& [destination, n] : pending) {
      text += "callhook_outbox_pending{destination=\"" + label(destination) + "\"} " +
              std::to_string(n) + "\n";
    }
    text +=
        "# HELP callhook_dead_letters Dead letters kept under dead/ (30 days after they died).\n"
        "# TYPE callhook_dead_letters gauge\ncallhook_dead_letters " +
        std::to_string(dead) + "\n";
    if (!complete) text += "# more keys than one request lists: the gauges are lower bounds\n";
    return callhook::Response{200,
                              {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"},
                               {"Cache-Control", "no-store"}},
                              std::move(text)};
  }

  const callhook::Request& req_;
  const callhook::FrontDoorRoute& door_;
  const Log& log_;
  const fastly::KvStore* kv_ = nullptr;
  bool failed_ = false;
  std::string bad_ = "The admin request is not one the admin API takes.";
  int lookups_ = 0;
  std::int64_t redriven_ = 0;
  bool settings_tried_ = false;
  bool engine_tried_ = false;
  std::optional<Settings> settings_;
  std::optional<callhook::Engine> engine_;
};

int run() {
  const Log log;
  if (auto started = fastly::init(); !started) {
    log.event("error", "fastly_abi.init failed", started.error().message());
    return 1;
  }
  auto request = fastly::read_downstream_request(kMaxRequestBytes);
  if (!request) {
    if (request.error().status == fastly::Status::limitexceeded) {
      answer_refusal(callhook::Refusal::body_too_large, log,
                     "Requests are limited to " + std::to_string(kMaxRequestBytes) + " bytes.");
    } else {
      log.event("error", "the request could not be read", request.error().message());
      answer_refusal(callhook::Refusal::bad_request, log, "The request could not be read.");
    }
    return 0;
  }
  callhook::Request req{std::move(request->method), std::move(request->url),
                        std::move(request->headers), std::move(request->body)};
  // Which endpoint is the core's decision; this program serves /hook, /healthz and /admin.
  const callhook::FrontDoorRoute door = callhook::route(req.method, req.url, req.header("Host"));
  if (door.endpoint == callhook::Endpoint::healthz) {
    answer(callhook::health("ok"), log);
    return 0;
  }
  if (door.endpoint == callhook::Endpoint::admin) {
    Admin admin(req, door, log);
    if (admin.serve()) {
      // Redriven deliveries wait in the outbox: send some now, as any request would.
      auto kv = fastly::KvStore::open(kKvStore);
      if (const Engine* engine = admin.engine(); engine != nullptr && kv) {
        const Outbox outbox(*kv, *engine, log, fastly::now_seconds());
        outbox.retry_due(kBackgroundBatch, {});
        outbox.save_paces();
        outbox.log_counts();
      }
    }
    return 0;
  }
  if (door.endpoint != callhook::Endpoint::hook) {
    answer(door.endpoint == callhook::Endpoint::refused
               ? door.response
               : callhook::refusal(callhook::Refusal::not_found),
           log);
    return 0;
  }

  std::string why;
  auto settings = load_settings(why);
  if (!settings) {
    log.event("error", "the Config Store could not be read", why);
    answer_refusal(callhook::Refusal::config_unavailable, log);
    return 0;
  }
  const auto engine = load_engine(*settings, log, why);
  if (!engine) {
    log.event("error", "the engine could not be built", why);
    answer_refusal(callhook::Refusal::config_invalid, log);
    return 0;
  }
  const std::int64_t now = fastly::now_seconds();
  auto kv = fastly::KvStore::open(kKvStore);

  std::optional<Settled> settled;
  if (!kv) {
    // Without a KV store nothing can be kept: refuse rather than route calls that will never
    // be joined or retried.
    callhook::Outcome probe = engine->handle(req, now);  // nothing to read: one pass
    if (probe.record || !probe.deliveries.empty()) {
      log.event("error", "the KV store is not linked", kv.error().message());
      answer_refusal(callhook::Refusal::store_unavailable, log);
      return 0;
    }
    trace(*settings, probe, log);
    log.line(probe.log);
    answer(probe.response, log);
    return 0;
  }
  // Decoded and checked once; decided on the record it names, as often as compare-and-set needs.
  const callhook::Prepared prepared = engine->prepare(req, now);
  const Outbox outbox(*kv, *engine, log, now);
  const Admission admission(outbox, settings->outbox_limit, log);
  SettleError error = SettleError::none;
  settled = settle(
      *kv, prepared.record_key(), std::nullopt, false,
      [&](const std::optional<std::string>& record) {
        return engine->decide(prepared, now, record);
      },
      admission, log, error);
  if (!settled) {
    if (error == SettleError::conflict) {
      answer_refusal(callhook::Refusal::conflict, log);
    } else if (error == SettleError::outbox_full) {
      answer_refusal(callhook::Refusal::outbox_full, log);
    } else {
      answer_refusal(callhook::Refusal::store_unavailable, log);
    }
    return 0;
  }
  std::vector<Outbox::Pending> pending;
  if (!outbox.persist(settled->outcome.deliveries, pending)) {
    if (settled->stored) roll_back(*kv, *settled, log);
    answer_refusal(callhook::Refusal::outbox_unavailable, log);
    return 0;
  }
  if (settled->stored) index_due(*kv, settled->outcome, now, log);
  trace(*settings, settled->outcome, log);
  log.line(settled->outcome.log);
  answer(settled->outcome.response, log);

  // The sender has its answer: deliver, then move earlier work along.
  std::vector<std::string> keys;
  for (const Outbox::Pending& p : pending) {
    outbox.attempt(p);
    keys.push_back(p.key);
  }
  outbox.retry_due(kBackgroundBatch, keys);
  sweep_due(*kv, *engine, outbox, admission, now, kBackgroundBatch, *settings, log);
  outbox.save_paces();
  outbox.log_counts();
  return 0;
}

}  // namespace

// ---- entry points ------------------------------------------------------------------------------
//
// The program names __wasm_call_ctors itself, so wasm-ld neither wraps each export in the
// constructors and destructors (which would run the destructors at the end of wizer.initialize,
// leaving the snapshot with destroyed objects, and the constructors again at every start) nor
// counts on libc's `_start` to run them: whoever runs them here runs the destructors too.

extern "C" void __wasm_call_ctors();
extern "C" void __wasm_call_dtors();

namespace {

// Set by a constructor, so that the constructors run once whoever runs them: libc's `_start`
// (newer wasi-libc runs them itself), main below (older wasi-libc leaves it to the linker), or
// wizer.initialize (the pre-initialized program starts with them run).
volatile bool g_constructed = false;
__attribute__((constructor)) void note_constructed() {
  g_constructed = true;
}

// Runs the constructors unless they ran; true when this call ran them.
bool construct_once() {
  if (g_constructed) return false;
  __wasm_call_ctors();
  return true;
}

}  // namespace

// The program as Fastly starts it when it is not pre-initialized: libc's `_start` calls main.
int main() {
  const bool ran = construct_once();
  const int status = run();
  if (ran) __wasm_call_dtors();
  return status;
}

// Called by Wizer, at build time only (see "start-up"): no hostcall, no secret.
extern "C" __attribute__((export_name("wizer.initialize"))) void callhook_wizer_initialize() {
  construct_once();
  pre_initialize();
}

// The pre-initialized program's `_start` (build.sh: --rename-func _start=wizer.resume): the
// constructors ran before the snapshot, so it goes straight to the request.
extern "C" __attribute__((export_name("wizer.resume"))) void callhook_wizer_resume() {
  construct_once();
  const int status = run();
  __wasm_call_dtors();
  if (status != 0) __wasi_proc_exit(static_cast<__wasi_exitcode_t>(status));
}
