// Loading the shared vector corpus (tests/vectors) for the native GoogleTest suite.
#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace callhook::testing {

inline std::string source_path(const std::string& relative) {
  return std::string(CALLHOOK_SOURCE_DIR) + "/" + relative;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct VectorFile {
  std::string path;
  nlohmann::json document;  // discarded when the file is not valid JSON
};

/// Every *.json file below tests/vectors/<folder>, sorted by path.
inline std::vector<VectorFile> load_vectors(const std::string& folder) {
  std::vector<VectorFile> files;
  const std::filesystem::path root = source_path("tests/vectors/" + folder);
  if (!std::filesystem::exists(root)) return files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.path().extension() != ".json") continue;
    files.push_back({entry.path().string(),
                     nlohmann::json::parse(read_file(entry.path().string()), nullptr, false)});
  }
  std::sort(files.begin(), files.end(),
            [](const VectorFile& a, const VectorFile& b) { return a.path < b.path; });
  return files;
}

/// A test name gtest accepts: letters, digits and underscores.
inline std::string test_name(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out.push_back(ok ? c : '_');
  }
  return out;
}

}  // namespace callhook::testing
