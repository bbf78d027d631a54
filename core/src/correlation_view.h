// The merged call of a record from events already parsed, so that decide parses each event once
// (internal to the core).
#pragma once

#include <nlohmann/json.hpp>

#include "callhook/correlate.h"

namespace callhook::detail {

/// merged_view, with the record's Complete and Initiate given as documents already parsed from
/// their text (nullptr: parsed from the record).
[[nodiscard]] nlohmann::json merged_view(const CallRecord& record,
                                         const nlohmann::json* complete_doc,
                                         const nlohmann::json* initiate_doc);

/// merged_view(record, ...)["correlation"], without building the merged call.
[[nodiscard]] nlohmann::json merged_correlation(const CallRecord& record,
                                                const nlohmann::json* complete_doc,
                                                const nlohmann::json* initiate_doc);

/// parse_record's fast path: the record when `text` is exactly write_record's text of it (events
/// that dump back byte for byte), read by slicing; nullopt for any other text, which
/// parse_record reads through a DOM.
[[nodiscard]] std::optional<CallRecord> slice_record_text(std::string_view text);

/// Appends to `conflicts` what merged_view lists as the conflicts of `complete` (a document)
/// with an Initiate given as the JSON text dump() wrote, parsing only the values that differ;
/// false (`conflicts` unchanged) when `initiate` is not such a text.
[[nodiscard]] bool conflicts_from_text(const nlohmann::json& complete, std::string_view initiate,
                                       nlohmann::json& conflicts);

}  // namespace callhook::detail
