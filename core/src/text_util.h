// Small ASCII and JSON Pointer helpers shared by the core's units (internal).
#pragma once

#include <string>
#include <string_view>

// Code that runs when a config is read, not for each request (parsing and checking filters and
// templates): compiled for size in the Emscripten build, whose size is budgeted, as its cold
// units are (CMakeLists.txt); the WASI builds are at -Oz throughout already. Wraps whole
// definitions: CALLHOOK_COLD_BEGIN ... CALLHOOK_COLD_END.
#if defined(__clang__) && defined(__EMSCRIPTEN__)
#define CALLHOOK_COLD_BEGIN \
  _Pragma("clang attribute push(__attribute__((minsize)), apply_to = function)")
#define CALLHOOK_COLD_END _Pragma("clang attribute pop")
#else
#define CALLHOOK_COLD_BEGIN
#define CALLHOOK_COLD_END
#endif

namespace callhook::detail {

inline char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

/// ASCII case-insensitive equality (header names, media types, schemes).
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

inline std::string ascii_lower_copy(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

/// Appends "/" and `token` escaped as RFC 6901 says ('~' as "~0", '/' as "~1").
inline void append_pointer_token(std::string& pointer, std::string_view token) {
  pointer.push_back('/');
  for (const char c : token) {
    if (c == '~') {
      pointer.append("~0");
    } else if (c == '/') {
      pointer.append("~1");
    } else {
      pointer.push_back(c);
    }
  }
}

}  // namespace callhook::detail
