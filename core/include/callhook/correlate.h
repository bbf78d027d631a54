// Correlation: one record per call joins its Initiate and Complete, whatever the network does.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "callhook/spec.h"

namespace callhook {

struct CorrelationConfig {
  bool enabled = true;
  /// An Initiate with no Complete this long after it arrived is an abandoned call.
  std::int64_t abandon_after_seconds = 4 * 3600;
  /// How long a record is kept after its last change (the shell's store honours `expires_at`).
  std::int64_t retention_seconds = 7 * 24 * 3600;
};

/// One event of the call as it was accepted.
struct SeenEvent {
  std::int64_t received_at = 0;
  std::string event;  // its canonical event, as JSON text (stored as is, parsed only to merge)
};

/// The stored state of one call (format documented in the README, "The record"). The shell
/// stores it as JSON under `key`, replacing only the version it read (compare-and-set).
struct CallRecord {
  static constexpr int kFormat = 1;
  std::string key;           // Account.Sid + ':' + Call.Sid
  std::int64_t version = 0;  // 1 on first store, +1 on every change
  std::optional<SeenEvent> initiate;
  std::optional<SeenEvent> complete;
  std::int64_t duplicates = 0;  // repeats received of an event already seen
  bool abandoned = false;       // the abandoned trigger has fired
  std::int64_t expires_at = 0;  // the store may drop the record after this (epoch seconds)
  /// When a sweep must look at this record (an Initiate still waiting for its Complete).
  std::optional<std::int64_t> sweep_at;
};

/// The record's store key for a call.
[[nodiscard]] std::string record_key(std::string_view account_sid, std::string_view call_sid);

/// Reads a stored record; nullopt (with the reason in `problem`) when it is not one.
[[nodiscard]] std::optional<CallRecord> parse_record(std::string_view json, std::string& problem);
[[nodiscard]] std::string write_record(const CallRecord& record);

/// The merged call: the Complete's canonical event (or the Initiate's when there is no
/// Complete), with what only the other event knew filled in; where both disagree the Complete
/// wins and the disagreement is listed. Adds `correlation`: key, state (initiated, completed,
/// abandoned), initiate_seen, complete_seen, seconds_between_receipts, duplicates, conflicts.
[[nodiscard]] nlohmann::json merged_view(const CallRecord& record);

/// The state machine over one call's record. Every step bumps the version and the expiry and
/// sets the next wake-up (`sweep_at`).
///
///   (none) --Initiate--> initiated --Complete--> completed
///   (none) --Complete--> completed (an older sender, or the Initiate lost)
///   initiated --sweep past sweep_at--> abandoned (fires once; a late Complete still completes)
///   any --the same event again--> the same state, a duplicate counted
struct Fold {
  bool duplicate = false;       // this event of this call was accepted before
  bool first_complete = false;  // the call's Complete arrived just now: `complete` routes fire
};
/// Folds an accepted event (its canonical JSON) received at `now` into `record`.
Fold fold_event(CallRecord& record, EventType event, std::string canonical, std::int64_t now,
                const CorrelationConfig& config);
/// Abandons the call when its sweep is due at `now`; false (nothing changed) otherwise.
bool abandon_if_due(CallRecord& record, std::int64_t now, const CorrelationConfig& config);

/// The `correlation` facts alone.
[[nodiscard]] nlohmann::json correlation_facts(const CallRecord& record,
                                               const nlohmann::json& conflicts);

}  // namespace callhook
