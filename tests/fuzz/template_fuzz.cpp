// Fuzzes check_template, render_template and CompiledTemplate. Input: template JSON, a NUL byte,
// context JSON.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "template.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string_view template_text = input.substr(0, nul);
  const std::string_view context_text =
      nul == std::string_view::npos ? std::string_view("{}") : input.substr(nul + 1);

  const nlohmann::json tpl = nlohmann::json::parse(template_text, nullptr, false);
  const nlohmann::json context = nlohmann::json::parse(context_text, nullptr, false);
  if (tpl.is_discarded() || context.is_discarded()) return -1;  // not worth keeping

  const bool valid = callhook::check_template(tpl).empty();
  const nlohmann::json out = callhook::render_template(tpl, context);
  // A template read once (as an engine reads its config's) renders the same.
  const callhook::CompiledTemplate compiled(tpl);
  if (compiled.render(context) != out) __builtin_trap();
  // Written as it is rendered, it is the text dump() gives of that document.
  std::string streamed;
  compiled.write(streamed, context);
  if (streamed != out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) {
    __builtin_trap();
  }
  // Invariants: rendering keeps the template's shape, and a template without any "{{" renders
  // to itself. The output must serialise (dump() aborts on invalid UTF-8 under
  // JSON_NOEXCEPTION unless told to replace).
  if (tpl.is_structured() && (out.type() != tpl.type() || out.size() != tpl.size())) {
    __builtin_trap();
  }
  const std::string dumped = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  const std::string written = tpl.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (valid && written.find("{{") == std::string::npos && out != tpl) __builtin_trap();
  (void)dumped;
  return 0;
}
