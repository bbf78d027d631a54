// The log line of a verdict (internal to the core): decide_attempt, Engine::plan_send and
// Engine::token_result write the same line, so a shell's log reads alike whichever decided.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "callhook/delivery.h"

namespace callhook::detail {

/// What a verdict is about, which names its `msg`: a delivery's attempt (`delivered`,
/// `delivery_retry`, `delivery_dead`) or the token request made for it (`token_retry`,
/// `token_dead`).
enum class LogSubject { delivery, token };

/// One JSON log line for `verdict` on `input`: level, msg, route, destination, idempotency_key,
/// attempt (null when `input.attempt` is 0: not known), status (null when nothing answered), code,
/// reason, retry_in_ms (retry), drop_token (when set). Never the URL or headers: they may hold
/// secrets.
[[nodiscard]] std::string verdict_log(const AttemptInput& input, const AttemptVerdict& verdict,
                                      LogSubject subject = LogSubject::delivery);

/// `text` cut to `max` bytes ("..." after), control characters as spaces: what a destination or a
/// transport said, fit for a reason.
[[nodiscard]] std::string clip(std::string_view text, std::size_t max = 200);

}  // namespace callhook::detail
