// Input, output and argument helpers for the callhook command-line program.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace callhook::cli {

/// Exit codes shared by every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRejected = 1;  // invalid payload, bad signature, no match...
inline constexpr int kExitUsage = 2;     // bad arguments or unreadable input

/// Reads a whole file; nullopt when it cannot be opened or read (nothing is printed).
std::optional<std::string> read_file(const std::string& path);

/// Reads a whole file, or standard input for "-". nullopt (with a message on stderr) on failure.
std::optional<std::string> read_input(std::string_view command, std::string_view path);

/// Reads a file, or standard input for "-", one line at a time through a fixed buffer, so a long
/// NDJSON input is never held whole (nor copied as it grows).
class LineReader {
 public:
  LineReader() = default;
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  ~LineReader();
  /// False (with a message on stderr) when the file cannot be opened.
  bool open(std::string_view command, std::string_view path);
  /// The next line, without its '\n' (the last one also when unterminated); valid until the next
  /// call. False at the end of the input, or on a read error (with a message on stderr;
  /// `failed()`).
  bool next(std::string_view& line);
  [[nodiscard]] bool failed() const { return failed_; }

 private:
  std::FILE* file_ = nullptr;
  bool close_ = false;
  bool eof_ = false;
  bool failed_ = false;
  std::string command_;
  std::string path_;
  std::string buffer_;
  std::size_t begin_ = 0;  // the unread bytes are buffer_[begin_, end_)
  std::size_t end_ = 0;
};

/// Writes `bytes` as the whole of a file, replacing it; false when it cannot be written (nothing
/// is printed).
bool write_file(const std::string& path, std::string_view bytes);

/// Buffered standard output: one write per 64 KiB rather than per line.
class Output {
 public:
  ~Output() { flush(); }
  std::string& buffer() { return buffer_; }
  void line(std::string_view text) {
    buffer_.append(text);
    buffer_.push_back('\n');
    maybe_flush();
  }
  void maybe_flush() {
    if (buffer_.size() >= 64 * 1024) flush();
  }
  void flush() {
    if (!buffer_.empty()) std::fwrite(buffer_.data(), 1, buffer_.size(), stdout);
    buffer_.clear();
    std::fflush(stdout);
  }

 private:
  std::string buffer_;
};

/// A small argument scanner: flags, "--name value" / "--name=value" options and positionals.
class Args {
 public:
  Args(int argc, char** argv, int first);
  /// True (and consumed) when `--name` is present.
  bool flag(std::string_view name);
  /// The value of `--name`, consumed; every occurrence with `all`.
  std::optional<std::string> option(std::string_view name);
  std::vector<std::string> options(std::string_view name);
  /// What is left once flags and options are taken. Unknown `--x` words are reported by
  /// `unknown()`.
  std::vector<std::string> positionals() const;
  std::optional<std::string> unknown() const;
  /// An option given without its value.
  const std::optional<std::string>& missing_value() const { return missing_value_; }

 private:
  std::vector<std::string> words_;
  std::vector<bool> used_;
  std::optional<std::string> missing_value_;
};

int usage_error(std::string_view command, std::string_view message);

}  // namespace callhook::cli
