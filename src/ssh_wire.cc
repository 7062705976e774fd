#include "tether/ssh_wire.h"

namespace tether {

bool WireReader::ReadU32(uint32_t* out) {
  if (data_.size() < 4) return false;
  *out = 0;
  for (size_t i = 0; i < 4; ++i) *out = (*out << 8) | static_cast<uint8_t>(data_[i]);
  data_.remove_prefix(4);
  return true;
}

bool WireReader::ReadByte(uint8_t* out) {
  if (data_.empty()) return false;
  *out = static_cast<uint8_t>(data_[0]);
  data_.remove_prefix(1);
  return true;
}

bool WireReader::ReadBytes(size_t n, std::string_view* out) {
  if (data_.size() < n) return false;
  *out = data_.substr(0, n);
  data_.remove_prefix(n);
  return true;
}

bool WireReader::ReadString(std::string_view* out) {
  std::string_view saved = data_;
  uint32_t length = 0;
  if (ReadU32(&length) && ReadBytes(length, out)) return true;
  data_ = saved;
  return false;
}

bool WireReader::ReadString(std::string* out) {
  std::string_view view;
  if (!ReadString(&view)) return false;
  out->assign(view);
  return true;
}

void WireWriter::PutU32(uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) data_.push_back(static_cast<char>(value >> shift));
}

void WireWriter::PutByte(uint8_t value) { data_.push_back(static_cast<char>(value)); }

void WireWriter::PutString(std::string_view bytes) {
  PutU32(static_cast<uint32_t>(bytes.size()));
  data_.append(bytes);
}

void WireWriter::PutMpint(std::string_view magnitude) {
  while (!magnitude.empty() && magnitude[0] == '\0') magnitude.remove_prefix(1);
  bool pad = !magnitude.empty() && (static_cast<uint8_t>(magnitude[0]) & 0x80) != 0;
  PutU32(static_cast<uint32_t>(magnitude.size() + (pad ? 1 : 0)));
  if (pad) data_.push_back('\0');
  data_.append(magnitude);
}

}  // namespace tether
