#include "callhook/fields.h"

namespace callhook {

std::optional<std::string_view> FieldList::find(std::string_view wanted) const {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (name(i) == wanted) return value(i);
  }
  return std::nullopt;
}

}  // namespace callhook
