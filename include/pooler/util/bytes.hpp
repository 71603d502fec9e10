// Big-endian byte reading and writing, the PostgreSQL wire's integer format.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pooler::util {

using Bytes = std::span<const std::uint8_t>;

inline std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

inline std::uint16_t load_be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

// Reads fields from a message body; every read is bounds-checked and failure is sticky.
class ByteReader {
 public:
  explicit ByteReader(Bytes data) : data_(data) {}

  std::optional<std::int32_t> i32() {
    if (!need(4)) return std::nullopt;
    auto v = static_cast<std::int32_t>(load_be32(data_.data() + pos_));
    pos_ += 4;
    return v;
  }
  std::optional<std::int16_t> i16() {
    if (!need(2)) return std::nullopt;
    auto v = static_cast<std::int16_t>(load_be16(data_.data() + pos_));
    pos_ += 2;
    return v;
  }
  std::optional<std::uint8_t> u8() {
    if (!need(1)) return std::nullopt;
    return data_[pos_++];
  }
  // A NUL-terminated string; nullopt when no terminator is left.
  std::optional<std::string_view> cstring() {
    if (failed_) return std::nullopt;
    const void* nul = std::memchr(data_.data() + pos_, 0, data_.size() - pos_);
    if (nul == nullptr) {
      failed_ = true;
      return std::nullopt;
    }
    auto len = static_cast<const std::uint8_t*>(nul) - (data_.data() + pos_);
    std::string_view s(reinterpret_cast<const char*>(data_.data() + pos_), len);
    pos_ += len + 1;
    return s;
  }
  std::optional<Bytes> bytes(std::size_t n) {
    if (!need(n)) return std::nullopt;
    Bytes b = data_.subspan(pos_, n);
    pos_ += n;
    return b;
  }
  std::size_t remaining() const { return failed_ ? 0 : data_.size() - pos_; }
  bool failed() const { return failed_; }

 private:
  bool need(std::size_t n) {
    if (failed_ || data_.size() - pos_ < n) {
      failed_ = true;
      return false;
    }
    return true;
  }
  Bytes data_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

// Appends wire fields to a std::string used as a byte buffer.
class ByteWriter {
 public:
  explicit ByteWriter(std::string& out) : out_(out) {}

  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void i16(std::int16_t v) {
    auto u = static_cast<std::uint16_t>(v);
    out_.push_back(static_cast<char>(u >> 8));
    out_.push_back(static_cast<char>(u & 0xff));
  }
  void i32(std::int32_t v) {
    auto u = static_cast<std::uint32_t>(v);
    for (int shift = 24; shift >= 0; shift -= 8) {
      out_.push_back(static_cast<char>((u >> shift) & 0xff));
    }
  }
  void cstring(std::string_view s) {
    out_.append(s);
    out_.push_back('\0');
  }
  void raw(std::string_view s) { out_.append(s); }
  void raw(Bytes b) { out_.append(reinterpret_cast<const char*>(b.data()), b.size()); }
  std::size_t size() const { return out_.size(); }
  // Overwrites a big-endian int32 at `at`, for length fields known only at the end.
  void patch_i32(std::size_t at, std::int32_t v) {
    auto u = static_cast<std::uint32_t>(v);
    for (int i = 0; i < 4; ++i) {
      out_[at + i] = static_cast<char>((u >> (24 - 8 * i)) & 0xff);
    }
  }

 private:
  std::string& out_;
};

inline Bytes as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

inline std::string_view as_chars(Bytes b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace pooler::util
