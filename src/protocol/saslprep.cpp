// SASLprep with the libraries that hold the Unicode data: libidn's copy of the RFC 3454 tables
// and ICU's NFKC. The steps and their order are PostgreSQL's (src/common/saslprep.c), which checks
// the prohibited, unassigned and bidi rules on the mapped input rather than the normalized output.
#include "pooler/protocol/saslprep.hpp"

#include <stringprep.h>
#include <unicode/unorm2.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <array>
#include <vector>

namespace pooler::protocol {
namespace {

// libidn's tables are arrays of inclusive ranges ending with {0, 0} (C.2.1 starts at {0, 0x1F}).
bool in_table(const Stringprep_table_element* table, UChar32 c) {
  const auto code = static_cast<std::uint32_t>(c);
  for (const Stringprep_table_element* e = table; e->start != 0 || e->end != 0; ++e) {
    const std::uint32_t last = e->end != 0 ? e->end : e->start;
    if (code >= e->start && code <= last) {
      return true;
    }
  }
  return false;
}

// SASLprep's prohibited output (RFC 4013 section 2.3) and A.1, unassigned in Unicode 3.2.
bool prohibited(UChar32 c) {
  static constexpr std::array kTables = {
      stringprep_rfc3454_C_1_2, stringprep_rfc3454_C_2_1, stringprep_rfc3454_C_2_2,
      stringprep_rfc3454_C_3,   stringprep_rfc3454_C_4,   stringprep_rfc3454_C_5,
      stringprep_rfc3454_C_6,   stringprep_rfc3454_C_7,   stringprep_rfc3454_C_8,
      stringprep_rfc3454_C_9,   stringprep_rfc3454_A_1};
  return std::any_of(kTables.begin(), kTables.end(),
                     [c](const Stringprep_table_element* table) { return in_table(table, c); });
}

// RFC 3454 section 6: with any RandALCat character there is no LCat one, and the text starts and
// ends with RandALCat.
bool bidi_ok(const std::vector<UChar32>& text) {
  auto rand_al = [](UChar32 c) { return in_table(stringprep_rfc3454_D_1, c); };
  if (std::none_of(text.begin(), text.end(), rand_al)) {
    return true;
  }
  auto l_cat = [](UChar32 c) { return in_table(stringprep_rfc3454_D_2, c); };
  return std::none_of(text.begin(), text.end(), l_cat) && rand_al(text.front()) &&
         rand_al(text.back());
}

// Strict UTF-8 (no overlong forms, surrogates or values past U+10FFFF), as pg_utf8_islegal.
std::optional<std::vector<UChar32>> decode_utf8(std::string_view text) {
  std::vector<UChar32> chars;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(text.data());
  const auto length = static_cast<std::int32_t>(text.size());
  for (std::int32_t i = 0; i < length;) {
    UChar32 c = 0;
    U8_NEXT(bytes, i, length, c);
    if (c < 0) {
      return std::nullopt;
    }
    chars.push_back(c);
  }
  return chars;
}

std::optional<std::string> nfkc_utf8(const std::vector<UChar32>& chars) {
  std::vector<UChar> utf16;
  for (UChar32 c : chars) {
    if (U_IS_BMP(c)) {
      utf16.push_back(static_cast<UChar>(c));
    } else {
      utf16.push_back(U16_LEAD(c));
      utf16.push_back(U16_TRAIL(c));
    }
  }
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* nfkc = unorm2_getNFKCInstance(&status);
  if (U_FAILURE(status)) {
    return std::nullopt;
  }
  const auto size = static_cast<std::int32_t>(utf16.size());
  // Room for the usual expansion; for more, the first call says how much it needs.
  std::vector<UChar> normalized(utf16.size() * 4 + 16);
  std::int32_t written = unorm2_normalize(nfkc, utf16.data(), size, normalized.data(),
                                          static_cast<std::int32_t>(normalized.size()), &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) {
    status = U_ZERO_ERROR;
    normalized.resize(static_cast<std::size_t>(written));
    written = unorm2_normalize(nfkc, utf16.data(), size, normalized.data(), written, &status);
  }
  if (U_FAILURE(status)) {
    return std::nullopt;
  }
  std::string out;
  for (std::int32_t i = 0; i < written;) {
    UChar32 c = 0;
    U16_NEXT(normalized.data(), i, written, c);
    std::array<std::uint8_t, U8_MAX_LENGTH> buffer{};
    std::int32_t used = 0;
    UBool error = false;
    U8_APPEND(buffer.data(), used, U8_MAX_LENGTH, c, error);
    if (error) {
      return std::nullopt;
    }
    out.append(reinterpret_cast<const char*>(buffer.data()), static_cast<std::size_t>(used));
  }
  return out;
}

}  // namespace

std::optional<std::string> saslprep(std::string_view password) {
  if (std::all_of(password.begin(), password.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return std::string(password);
  }
  std::optional<std::vector<UChar32>> input = decode_utf8(password);
  if (!input) {
    return std::nullopt;
  }
  // 1. Map: non-ASCII spaces (C.1.2) to SPACE, "commonly mapped to nothing" (B.1) to nothing.
  std::vector<UChar32> mapped;
  for (UChar32 c : *input) {
    if (in_table(stringprep_rfc3454_C_1_2, c)) {
      mapped.push_back(0x20);
    } else if (!in_table(stringprep_rfc3454_B_1, c)) {
      mapped.push_back(c);
    }
  }
  if (mapped.empty()) {
    return std::nullopt;  // PostgreSQL refuses an empty password
  }
  // 3. and 4. (on the mapped text, as PostgreSQL), then 2. Normalize.
  if (std::any_of(mapped.begin(), mapped.end(), prohibited) || !bidi_ok(mapped)) {
    return std::nullopt;
  }
  return nfkc_utf8(mapped);
}

std::string scram_password_bytes(std::string_view password) {
  std::optional<std::string> prepared = saslprep(password);
  return prepared ? *prepared : std::string(password);
}

}  // namespace pooler::protocol
