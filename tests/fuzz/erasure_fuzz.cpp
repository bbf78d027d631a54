// Fuzzes erasure matching: normalize_phone on any text (a number it gives is always `+` and 7 to
// 15 digits, and normalizing that again gives it back), and mentions() on any stored text for a
// subject by call, by number, and both (never a crash; a text that is exactly the number always
// concerns it; both given matches exactly when either alone does).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "callhook/erasure.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string problem;
  if (const auto e164 = callhook::normalize_phone(input, problem)) {
    if (e164->size() < 8 || e164->size() > 16 || e164->front() != '+') __builtin_trap();
    for (std::size_t i = 1; i < e164->size(); ++i) {
      if ((*e164)[i] < '0' || (*e164)[i] > '9') __builtin_trap();
    }
    std::string again_problem;
    const auto again = callhook::normalize_phone(*e164, again_problem);
    if (!again || *again != *e164) __builtin_trap();
    if (!callhook::mentions(*e164, {"", *e164})) __builtin_trap();
  }
  const callhook::ErasureSubject by_call{"CA0123456789abcdef", ""};
  const callhook::ErasureSubject by_phone{"", "+14155550123"};
  const callhook::ErasureSubject both{"CA0123456789abcdef", "+14155550123"};
  const bool call = callhook::mentions(input, by_call);
  const bool phone = callhook::mentions(input, by_phone);
  const bool either = callhook::mentions(input, both);
  if (either != (call || phone)) __builtin_trap();
  return 0;
}
