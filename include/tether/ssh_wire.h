#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tether {

/// Reads the SSH wire encoding (RFC 4251 section 5): uint32 big-endian, string = uint32
/// length + bytes. Every read checks the bounds and fails instead of reading past the end.
class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}

  bool ReadU32(uint32_t* out);
  bool ReadByte(uint8_t* out);
  /// A string; the view points into the reader's data.
  bool ReadString(std::string_view* out);
  bool ReadString(std::string* out);
  /// Takes n bytes as they are.
  bool ReadBytes(size_t n, std::string_view* out);
  std::string_view rest() const { return data_; }
  bool empty() const { return data_.empty(); }

 private:
  std::string_view data_;
};

/// Appends the SSH wire encoding to a string.
class WireWriter {
 public:
  void PutU32(uint32_t value);
  void PutByte(uint8_t value);
  void PutString(std::string_view bytes);
  /// A non-negative mpint given as big-endian magnitude bytes: leading zeros dropped, one
  /// zero byte added when the top bit is set.
  void PutMpint(std::string_view magnitude);
  const std::string& data() const { return data_; }
  std::string& mutable_data() { return data_; }

 private:
  std::string data_;
};

}  // namespace tether
