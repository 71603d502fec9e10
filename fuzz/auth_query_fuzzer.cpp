// libFuzzer entry point for the reader of PostgreSQL's answer to auth_query (server input the
// pooler trusts least: it decides how a login is checked). Besides no crash and no UB: the
// answer is the same however the bytes are split, and only a row's second column is a secret.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "pooler/backend/auth_query.hpp"

namespace {

using pooler::backend::AuthQueryAnswer;
using pooler::backend::AuthQueryReply;
using pooler::fuzz::require;

AuthQueryAnswer read(std::string_view bytes, std::size_t chunk, bool& done) {
  AuthQueryReply reply;
  done = false;
  for (std::size_t at = 0; at < bytes.size() && !done; at += chunk) {
    auto part = pooler::util::as_bytes(bytes.substr(at, chunk));
    done = reply.feed(part) == AuthQueryReply::Status::kDone;
  }
  return reply.answer();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::size_t chunk = 1 + data[0] % 16;
  bool whole_done = false;
  bool split_done = false;
  AuthQueryAnswer whole = read(bytes, bytes.size() + 1, whole_done);
  AuthQueryAnswer split = read(bytes, chunk, split_done);
  require(whole_done == split_done);
  require(whole.kind == split.kind && whole.secret == split.secret && whole.error == split.error);
  if (whole.kind != AuthQueryAnswer::Kind::kSecret) require(whole.secret.empty());
  if (whole.secret.size() > 0) require(whole.kind == AuthQueryAnswer::Kind::kSecret);
  return 0;
}
