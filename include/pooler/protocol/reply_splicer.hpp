// ReplySplicer: a server's reply stream passed through a ReplyFilter, read by read: the
// messages the filter drops are cut out, the answers it makes up are spliced in, and a header
// cut by a read is held back until its message is whole (it may be one to drop).
#pragma once

#include <optional>
#include <utility>
#include <string>

#include "pooler/protocol/message_scanner.hpp"
#include "pooler/protocol/reply_filter.hpp"
#include "pooler/util/bytes.hpp"

namespace pooler::protocol {

class ReplySplicer {
 public:
  struct Spliced {
    util::Bytes out;  // what the client gets; valid until the next splice
    bool ends_with_ready = false;  // `out` ends with a whole ReadyForQuery
  };

  // One read, with any held-back bytes already in front (take_held). `on_message(type, body)`
  // sees each whole message before the filter does. nullopt when the stream is malformed.
  template <typename OnMessage>
  std::optional<Spliced> splice(util::Bytes data, MessageScanner& scanner, ReplyFilter& filter,
                                StatementState state, OnMessage&& on_message) {
    filtered_.clear();
    bool rewritten = false;
    bool ends_ready = false;
    std::size_t run_start = 0;  // bytes passed on that are not yet copied into filtered_
    std::size_t message_start = 0;
    bool ok = scanner.scan(data, [&](char type, util::Bytes body) {
      std::size_t end = scanner.message_end();
      on_message(type, body);
      made_up_.clear();
      bool keep = filter.on_server_message(type, body, state, made_up_);
      if (!keep || !made_up_.empty()) {
        std::size_t kept_end = keep ? end : message_start;
        filtered_.append(util::as_chars(data.subspan(run_start, kept_end - run_start)));
        filtered_.append(made_up_);
        run_start = end;
        rewritten = true;
      }
      if (!made_up_.empty()) {
        ends_ready = ends_with_ready_for_query(made_up_);
      } else if (keep) {
        ends_ready = type == 'Z';
      }
      message_start = end;
      return true;
    });
    if (!ok) return std::nullopt;
    std::size_t passed_end = data.size();
    if (scanner.in_header()) {
      // Held bytes go in front of the next read, so a cut header always began in `data`.
      scanner.reset();
      held_.assign(util::as_chars(data.subspan(message_start)));
      passed_end = message_start;
    } else if (!scanner.at_boundary()) {
      ends_ready = false;  // a longer message has begun: the client sees its start now
    }
    if (!rewritten) return Spliced{data.first(passed_end), ends_ready};
    filtered_.append(util::as_chars(data.subspan(run_start, passed_end - run_start)));
    return Spliced{util::as_bytes(filtered_), ends_ready};
  }

  bool holding() const { return !held_.empty(); }
  // The held-back bytes, to be put in front of the next read.
  std::string take_held() { return std::exchange(held_, std::string()); }

 private:
  std::string held_;
  std::string filtered_;  // reused
  std::string made_up_;   // reused
};

}  // namespace pooler::protocol
