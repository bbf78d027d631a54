#include "callhook/http.h"

#include <cstddef>
#include <optional>
#include <string_view>
#include "text_util.h"

namespace callhook {
namespace {}  // namespace

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (detail::iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

}  // namespace callhook
