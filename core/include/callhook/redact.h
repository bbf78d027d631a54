// What a log line may not carry: secret values and callers' phone numbers. Every line a shell
// writes goes through here (the engine's own lines never hold them, but errors and destinations'
// answers can).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace callhook {

/// A secret the config resolved: its `${NAME}` and its value.
using ResolvedSecret = std::pair<std::string, std::string>;

/// `text` with every secret value (of 4 bytes or more; longest first) replaced by its reference
/// `${NAME}`, and every phone number (`+` and 7 to 15 digits, also written `%2B`) by `[number]`.
[[nodiscard]] std::string redact(std::string_view text,
                                 const std::vector<ResolvedSecret>& secrets = {});

}  // namespace callhook
