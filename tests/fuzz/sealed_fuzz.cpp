// Fuzzes sealed text and Engine::unseal. The input is taken three ways: as text to seal (the
// round trip must give it back byte for byte, and the sealed text must be valid UTF-8 holding
// no secret), as sealed text to read back (it may be refused, never crash), and as a sealed
// delivery for an engine (the same).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "callhook/engine.h"
#include "sealed_delivery.h"
#include "utf8.h"

namespace {

const std::vector<callhook::ResolvedSecret>& secrets() {
  static const std::vector<callhook::ResolvedSecret> list = {{"A", "abcd"},
                                                             {"LONG_A", "abcdef"},
                                                             {"SLASH", "s/+x"},
                                                             {"QUOTE", "q\"\\\n"},
                                                             {"DOLLAR", "$${"}};
  return list;
}

const callhook::Engine& engine() {
  static const std::optional<callhook::Engine> e = callhook::Engine::from_config(
      R"({"destinations": {"d": {"url": "https://x/?k=${A}&s=${SLASH}",
                                 "headers": {"q": "${QUOTE}", "d": "${DOLLAR}"}}},
          "routes": [{"name": "r", "to": ["d"]}]})",
      [](std::string_view name) -> std::optional<std::string> {
        for (const auto& [n, v] : secrets()) {
          if (n == name) return v;
        }
        return std::nullopt;
      });
  if (!e) __builtin_trap();
  return *e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string sealed = callhook::detail::seal_text(input, secrets());
  if (!callhook::detail::is_valid_utf8(sealed)) __builtin_trap();
  std::string back;
  callhook::detail::UnsealProblem problem;
  if (!callhook::detail::unseal_text(sealed, secrets(), back, problem) || back != input) {
    __builtin_trap();
  }
  for (const char* value : {"abcd", "s/+x", "s%2F%2Bx", "q\\\"\\\\\\n"}) {
    if (sealed.find(value) != std::string::npos) __builtin_trap();
  }
  std::string any;
  (void)callhook::detail::unseal_text(input, secrets(), any, problem);
  const callhook::Unsealed unsealed = engine().unseal(input);
  if (unsealed.delivery) {
    // Whatever unseals seals back to something that unseals to the same delivery.
    const callhook::Unsealed again = engine().unseal(engine().seal(*unsealed.delivery));
    if (!again.delivery || again.delivery->body != unsealed.delivery->body ||
        again.delivery->url != unsealed.delivery->url) {
      __builtin_trap();
    }
  } else if (unsealed.error.code != "bad_sealed" && unsealed.error.code != "missing_secret") {
    __builtin_trap();
  }
  return 0;
}
