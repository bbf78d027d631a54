// Decoded webhook parameters: name/value pairs in arrival order, duplicates kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace callhook {

namespace detail {
class FieldListBuilder;  // the decoders' way of writing fields in place (core/src)
}

/// The decoded pairs of one payload. Every name and value lives in one shared buffer, so decoding
/// a payload costs a constant number of allocations, not one or two per field.
class FieldList {
 public:
  void clear() {
    buffer_.clear();
    entries_.clear();
  }
  void reserve(std::size_t bytes, std::size_t fields) {
    buffer_.reserve(bytes);
    entries_.reserve(fields);
  }
  [[nodiscard]] std::size_t size() const { return entries_.size(); }
  [[nodiscard]] bool empty() const { return entries_.empty(); }
  [[nodiscard]] std::string_view name(std::size_t i) const {
    const Entry& e = entries_[i];
    return {buffer_.data() + e.name_begin, e.name_end - e.name_begin};
  }
  [[nodiscard]] std::string_view value(std::size_t i) const {
    const Entry& e = entries_[i];
    return {buffer_.data() + e.name_end, e.value_end - e.name_end};
  }
  /// The value of the first field called `name`, if any.
  [[nodiscard]] std::optional<std::string_view> find(std::string_view name) const;

  void add(std::string_view name, std::string_view value) {
    begin_field();
    buffer_.append(name);
    end_name();
    buffer_.append(value);
    end_field();
  }

 private:
  friend class detail::FieldListBuilder;
  // Incremental building, for decoders that write decoded bytes straight into the buffer:
  // begin_field(), append name bytes to buffer(), end_name(), append value bytes, end_field().
  void begin_field() { pending_.name_begin = static_cast<std::uint32_t>(buffer_.size()); }
  void end_name() { pending_.name_end = static_cast<std::uint32_t>(buffer_.size()); }
  void end_field() {
    pending_.value_end = static_cast<std::uint32_t>(buffer_.size());
    entries_.push_back(pending_);
  }
  /// Records a field whose name is buffer()[name_begin, name_end) and whose value is
  /// buffer()[name_end, value_end), for decoders that write the buffer directly.
  void add_span(std::size_t name_begin, std::size_t name_end, std::size_t value_end) {
    entries_.push_back({static_cast<std::uint32_t>(name_begin),
                        static_cast<std::uint32_t>(name_end),
                        static_cast<std::uint32_t>(value_end)});
  }
  /// Drops the field being built (its bytes too).
  void abandon_field() { buffer_.resize(pending_.name_begin); }
  [[nodiscard]] std::string& buffer() { return buffer_; }
  /// Byte offset where the field being built began.
  [[nodiscard]] std::size_t pending_begin() const { return pending_.name_begin; }
  [[nodiscard]] std::size_t pending_name_end() const { return pending_.name_end; }

  struct Entry {
    std::uint32_t name_begin = 0;
    std::uint32_t name_end = 0;  // also where the value begins
    std::uint32_t value_end = 0;
  };
  std::string buffer_;
  std::vector<Entry> entries_;
  Entry pending_;
};

/// One finding about a payload or a config: a stable machine `code`, the `field` it concerns
/// (empty when it concerns the whole payload) and a sentence for people.
struct Diagnostic {
  std::string field;
  std::string code;
  std::string message;
};

}  // namespace callhook
