// What the engine answers the sender and writes to the log, one function per kind of answer
// (internal to the core).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "callhook/auth.h"
#include "callhook/engine.h"
#include "json_writer.h"

namespace callhook::detail {

/// One JSON log line: level, msg, status, then what `more` writes.
[[nodiscard]] std::string log_line(std::string_view level, std::string_view message, int status,
                                   const std::function<void(JsonWriter&)>& more);

/// 401, with WWW-Authenticate when Basic auth is configured.
void answer_unauthorized(const AuthResult& auth, bool basic_configured, Outcome& out);
/// 405 for a method other than GET or POST.
void answer_method_not_allowed(std::string_view method, Outcome& out);
/// 400, 413 or 415 for a payload that is not valid, wrapped in a 200 when `always_200`.
void answer_invalid(const Report& report, bool always_200, Outcome& out);
/// 503 when the stored record cannot be read.
void answer_unreadable_record(const std::string& why, Outcome& out);
/// 200 {"status":"duplicate"} for an event of a call that was accepted before.
void answer_duplicate(std::string_view event, std::string_view call_sid,
                      std::string_view account_sid, std::int64_t duplicates, Outcome& out);
/// 200 {"status":"accepted"} with the matched routes, the deliveries and the warnings.
void answer_accepted(std::string_view event, std::string_view call_sid,
                     std::string_view account_sid, Outcome& out);

}  // namespace callhook::detail
