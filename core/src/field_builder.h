// How decoders write fields straight into a FieldList's buffer (internal to the core).
#pragma once

#include <cstddef>
#include <string>

#include "callhook/fields.h"

namespace callhook::detail {

/// begin_field(), append name bytes to buffer(), end_name(), append value bytes, end_field();
/// or write the buffer directly and add_span() the field.
class FieldListBuilder {
 public:
  explicit FieldListBuilder(FieldList& list) : list_(list) {}
  void begin_field() { list_.begin_field(); }
  void end_name() { list_.end_name(); }
  void end_field() { list_.end_field(); }
  void add_span(std::size_t name_begin, std::size_t name_end, std::size_t value_end) {
    list_.add_span(name_begin, name_end, value_end);
  }
  void abandon_field() { list_.abandon_field(); }
  [[nodiscard]] std::string& buffer() { return list_.buffer(); }
  [[nodiscard]] std::size_t pending_begin() const { return list_.pending_begin(); }
  [[nodiscard]] std::size_t pending_name_end() const { return list_.pending_name_end(); }
  [[nodiscard]] std::size_t size() const { return list_.size(); }
  [[nodiscard]] FieldList& list() { return list_; }

 private:
  FieldList& list_;
};

}  // namespace callhook::detail
