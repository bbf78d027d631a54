// Fuzzes check_filter and filter_matches. Input: filter JSON, a NUL byte, document JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "callhook/filter.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string_view filter_text = input.substr(0, nul);
  const std::string_view document_text =
      nul == std::string_view::npos ? std::string_view("{}") : input.substr(nul + 1);

  const nlohmann::json filter = nlohmann::json::parse(filter_text, nullptr, false);
  const nlohmann::json document = nlohmann::json::parse(document_text, nullptr, false);
  if (filter.is_discarded() || document.is_discarded()) return -1;  // not worth keeping

  const bool valid = callhook::check_filter(filter).empty();
  const bool matched = callhook::filter_matches(filter, document);
  // Invariants: a rejected filter matches nothing, and evaluation is deterministic.
  if (!valid && matched) __builtin_trap();
  if (callhook::filter_matches(filter, document) != matched) __builtin_trap();
  return 0;
}
