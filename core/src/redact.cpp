#include "callhook/redact.h"

#include <algorithm>

namespace callhook {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Replaces `+` (or `%2B`) followed by 7 to 15 digits, not inside a longer run of digits.
std::string redact_numbers(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t sign = 0;
    if (text[i] == '+') {
      sign = 1;
    } else if (text.substr(i, 3) == "%2B" || text.substr(i, 3) == "%2b") {
      sign = 3;
    }
    if (sign != 0) {
      std::size_t end = i + sign;
      while (end < text.size() && is_digit(text[end])) ++end;
      const std::size_t digits = end - i - sign;
      if (digits >= 7 && digits <= 15) {
        out += "[number]";
        i = end;
        continue;
      }
    }
    out.push_back(text[i]);
    ++i;
  }
  return out;
}

}  // namespace

std::string redact(std::string_view text, const std::vector<ResolvedSecret>& secrets) {
  std::string out(text);
  std::vector<const ResolvedSecret*> order;
  for (const ResolvedSecret& s : secrets) {
    if (s.second.size() >= 4) order.push_back(&s);
  }
  std::sort(order.begin(), order.end(), [](const ResolvedSecret* a, const ResolvedSecret* b) {
    return a->second.size() > b->second.size();
  });
  for (const ResolvedSecret* s : order) {
    std::size_t at = out.find(s->second);
    if (at == std::string::npos) continue;
    const std::string reference = "${" + s->first + "}";
    for (; at != std::string::npos; at = out.find(s->second, at + reference.size())) {
      out.replace(at, s->second.size(), reference);
    }
  }
  // Most lines hold no number's sign: they are kept as they are (a plain loop: find_first_of
  // searches its set once per byte).
  for (const char c : out) {
    if (c == '+' || c == '%') return redact_numbers(out);
  }
  return out;
}

}  // namespace callhook
