#include "sinks/archive/file_name.h"

#include <fmt/format.h>

#include <charconv>
#include <vector>

namespace txpipe::sinks::archive {

namespace {

bool ParseU64(std::string_view s, uint64_t* v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

// Parses "<topic>+<partition>+<o1>[+<o2>]" with `offsets` offset fields.
bool ParseMiddle(std::string_view mid, int offsets, FileRange* r) {
  std::vector<std::string_view> tail;  // fields after the topic, from the right
  for (int k = 0; k < offsets + 1; ++k) {
    size_t plus = mid.rfind('+');
    if (plus == std::string_view::npos) return false;
    tail.push_back(mid.substr(plus + 1));
    mid = mid.substr(0, plus);
  }
  if (mid.empty()) return false;
  // tail = [last?, first, partition] reversed order of appearance.
  std::string_view part = tail.back();
  uint64_t p = 0;
  if (!ParseU64(part, &p) || p > 1'000'000) return false;
  uint64_t o[2] = {0, 0};
  for (int k = 0; k < offsets; ++k) {
    std::string_view f = tail[offsets - 1 - k];
    if (f.size() != 20 || !ParseU64(f, &o[k])) return false;
  }
  r->topic = std::string(mid);
  r->partition = static_cast<int>(p);
  r->first = o[0];
  r->last = offsets == 2 ? o[1] : 0;
  return true;
}

bool Strip(std::string_view* s, std::string_view prefix, std::string_view suffix) {
  if (s->size() < prefix.size() + suffix.size()) return false;
  if (s->substr(0, prefix.size()) != prefix) return false;
  if (s->substr(s->size() - suffix.size()) != suffix) return false;
  s->remove_prefix(prefix.size());
  s->remove_suffix(suffix.size());
  return true;
}

}  // namespace

std::string FinalFileName(const FileNaming& n, std::string_view topic, int partition,
                          uint64_t first, uint64_t last) {
  return fmt::format("{}.{}+{}+{:020}+{:020}{}", n.prefix, topic, partition, first, last, n.suffix);
}

std::string InUseFileName(const FileNaming& n, std::string_view topic, int partition,
                          uint64_t first) {
  return fmt::format("{}{}.{}+{}+{:020}{}{}", n.in_use_prefix, n.prefix, topic, partition, first,
                     n.suffix, n.in_use_suffix);
}

bool ParseFinalFileName(const FileNaming& n, std::string_view name, FileRange* r) {
  if (!Strip(&name, n.prefix + ".", n.suffix)) return false;
  return ParseMiddle(name, 2, r) && r->first <= r->last;
}

bool ParseInUseFileName(const FileNaming& n, std::string_view name, FileRange* r) {
  if (!Strip(&name, n.in_use_prefix + n.prefix + ".", n.suffix + n.in_use_suffix)) return false;
  return ParseMiddle(name, 1, r);
}

}  // namespace txpipe::sinks::archive
