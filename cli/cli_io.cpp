#include "cli_io.h"

#include <cerrno>
#include <cstring>

namespace callhook::cli {

namespace {

// Reads everything from an open stream; false on a read error. The chunk is small because the
// WASI build's whole stack is 64 KiB.
bool read_all(std::FILE* file, std::string& data) {
  char chunk[1 << 13];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, file)) > 0) data.append(chunk, n);
  return std::ferror(file) == 0;
}

}  // namespace

std::optional<std::string> read_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return std::nullopt;
  std::string data;
  const bool ok = read_all(file, data);
  std::fclose(file);
  if (!ok) return std::nullopt;
  return data;
}

namespace {

std::FILE* open_input(std::string_view command, std::string_view path) {
  std::FILE* file = path == "-" ? stdin : std::fopen(std::string(path).c_str(), "rb");
  if (file == nullptr) {
    std::fprintf(stderr, "callhook %.*s: cannot open %.*s: %s\n", static_cast<int>(command.size()),
                 command.data(), static_cast<int>(path.size()), path.data(), std::strerror(errno));
  }
  return file;
}

void cannot_read(std::string_view command, std::string_view path) {
  std::fprintf(stderr, "callhook %.*s: cannot read %.*s\n", static_cast<int>(command.size()),
               command.data(), static_cast<int>(path.size()), path.data());
}

}  // namespace

std::optional<std::string> read_input(std::string_view command, std::string_view path) {
  std::FILE* file = open_input(command, path);
  if (file == nullptr) return std::nullopt;
  std::string data;
  const bool failed = !read_all(file, data);
  if (file != stdin) std::fclose(file);
  if (failed) {
    cannot_read(command, path);
    return std::nullopt;
  }
  return data;
}

LineReader::~LineReader() {
  if (close_) std::fclose(file_);
}

bool LineReader::open(std::string_view command, std::string_view path) {
  file_ = open_input(command, path);
  if (file_ == nullptr) return false;
  close_ = file_ != stdin;
  command_ = command;
  path_ = path;
  buffer_.resize(1 << 20);
  return true;
}

bool LineReader::next(std::string_view& line) {
  while (true) {
    const char* const from = buffer_.data() + begin_;
    if (const void* newline = std::memchr(from, '\n', end_ - begin_)) {
      const auto length = static_cast<std::size_t>(static_cast<const char*>(newline) - from);
      line = std::string_view(from, length);
      begin_ += length + 1;
      return true;
    }
    if (eof_) {
      if (begin_ == end_) return false;
      line = std::string_view(from, end_ - begin_);
      begin_ = end_;
      return true;
    }
    // Keep the partial line, make room after it (twice the room for a line longer than the
    // buffer), and read on.
    std::memmove(buffer_.data(), from, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
    const std::size_t n = std::fread(buffer_.data() + end_, 1, buffer_.size() - end_, file_);
    end_ += n;
    if (n == 0) {
      eof_ = true;
      if (std::ferror(file_) != 0) {
        failed_ = true;
        cannot_read(command_, path_);
        return false;
      }
    }
  }
}

bool write_file(const std::string& path, std::string_view bytes) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return false;
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
  return std::fclose(file) == 0 && written;
}

Args::Args(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) words_.emplace_back(argv[i]);
  used_.assign(words_.size(), false);
}

bool Args::flag(std::string_view name) {
  bool found = false;
  for (std::size_t i = 0; i < words_.size(); ++i) {
    if (!used_[i] && words_[i] == name) {
      used_[i] = true;
      found = true;
    }
  }
  return found;
}

std::vector<std::string> Args::options(std::string_view name) {
  std::vector<std::string> values;
  for (std::size_t i = 0; i < words_.size(); ++i) {
    if (used_[i]) continue;
    const std::string& word = words_[i];
    if (word == name) {
      used_[i] = true;
      if (i + 1 < words_.size()) {
        used_[i + 1] = true;
        values.push_back(words_[i + 1]);
        ++i;
      } else {
        missing_value_ = std::string(name);
      }
    } else if (word.size() > name.size() && word.starts_with(name) && word[name.size()] == '=') {
      used_[i] = true;
      values.push_back(word.substr(name.size() + 1));
    }
  }
  return values;
}

std::optional<std::string> Args::option(std::string_view name) {
  std::vector<std::string> values = options(name);
  if (values.empty()) return std::nullopt;
  return values.back();
}

std::vector<std::string> Args::positionals() const {
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < words_.size(); ++i) {
    if (!used_[i]) rest.push_back(words_[i]);
  }
  return rest;
}

std::optional<std::string> Args::unknown() const {
  for (std::size_t i = 0; i < words_.size(); ++i) {
    if (!used_[i] && words_[i].size() > 1 && words_[i].starts_with("--")) return words_[i];
  }
  return std::nullopt;
}

int usage_error(std::string_view command, std::string_view message) {
  std::fprintf(stderr, "callhook %.*s: %.*s\nTry 'callhook %.*s --help'.\n",
               static_cast<int>(command.size()), command.data(), static_cast<int>(message.size()),
               message.data(), static_cast<int>(command.size()), command.data());
  return kExitUsage;
}

}  // namespace callhook::cli
