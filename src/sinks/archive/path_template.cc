#include "sinks/archive/path_template.h"

#include <fmt/format.h>

#include "base/time.h"

namespace txpipe::sinks::archive {

using base::Result;
using base::Status;

namespace {

// Leaves room under NAME_MAX (255) and PATH_MAX (4096) for the root and the
// file name, so an event's values cannot make a path the file system refuses.
constexpr size_t kMaxComponentBytes = 200;
constexpr size_t kMaxBucketBytes = 2048;
constexpr std::string_view kTimeEscapes = "YymndejHkIlpMSstaAbBz";
constexpr const char* kWeekdays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday"};
constexpr const char* kMonths[] = {"January",   "February", "March",    "April",
                                   "May",       "June",     "July",     "August",
                                   "September", "October",  "November", "December"};

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

void AppendTime(char escape, int64_t ms, std::string* out) {
  const int64_t micros = ms * 1000;
  const base::CivilTime c = base::ToCivil(micros);
  const int64_t days = FloorDiv(ms, 86'400'000);
  const unsigned hour12 = c.hour % 12 == 0 ? 12 : c.hour % 12;
  switch (escape) {
    case 'Y':
      fmt::format_to(std::back_inserter(*out), "{:04}", c.year);
      break;
    case 'y':
      fmt::format_to(std::back_inserter(*out), "{:02}", ((c.year % 100) + 100) % 100);
      break;
    case 'm':
      fmt::format_to(std::back_inserter(*out), "{:02}", c.month);
      break;
    case 'n':
      fmt::format_to(std::back_inserter(*out), "{}", c.month);
      break;
    case 'd':
      fmt::format_to(std::back_inserter(*out), "{:02}", c.day);
      break;
    case 'e':
      fmt::format_to(std::back_inserter(*out), "{}", c.day);
      break;
    case 'j': {
      int64_t doy = days - base::DaysFromCivil(c.year, 1, 1) + 1;
      fmt::format_to(std::back_inserter(*out), "{:03}", doy);
      break;
    }
    case 'H':
      fmt::format_to(std::back_inserter(*out), "{:02}", c.hour);
      break;
    case 'k':
      fmt::format_to(std::back_inserter(*out), "{}", c.hour);
      break;
    case 'I':
      fmt::format_to(std::back_inserter(*out), "{:02}", hour12);
      break;
    case 'l':
      fmt::format_to(std::back_inserter(*out), "{}", hour12);
      break;
    case 'p':
      out->append(c.hour < 12 ? "AM" : "PM");
      break;
    case 'M':
      fmt::format_to(std::back_inserter(*out), "{:02}", c.minute);
      break;
    case 'S':
      fmt::format_to(std::back_inserter(*out), "{:02}", c.second);
      break;
    case 's':
      fmt::format_to(std::back_inserter(*out), "{}", FloorDiv(ms, 1000));
      break;
    case 't':
      fmt::format_to(std::back_inserter(*out), "{}", ms);
      break;
    case 'a':
      out->append(std::string_view(kWeekdays[((days + 4) % 7 + 7) % 7]).substr(0, 3));
      break;
    case 'A':
      out->append(kWeekdays[((days + 4) % 7 + 7) % 7]);
      break;
    case 'b':
      out->append(std::string_view(kMonths[c.month - 1]).substr(0, 3));
      break;
    case 'B':
      out->append(kMonths[c.month - 1]);
      break;
    case 'z':
      out->append("+0000");
      break;
    default:
      break;
  }
}

// Why a substituted value may not go into a path, or "" when it may.
std::string_view Unsafe(std::string_view v) {
  if (!v.empty() && v[0] == '/') return "is an absolute path";
  for (char ch : v) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) return "holds a control character";
  }
  return {};
}

}  // namespace

int64_t RoundDownMs(int64_t ms, int value, RoundUnit unit) {
  int64_t unit_ms = unit == RoundUnit::kSecond   ? 1000
                    : unit == RoundUnit::kMinute ? 60'000
                                                 : 3'600'000;
  int64_t step = unit_ms * (value < 1 ? 1 : value);
  return FloorDiv(ms, step) * step;
}

Result<PathTemplate> PathTemplate::Compile(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("path is empty");
  // The root: up to the last '/' before the first escape (or all of it).
  size_t first_escape = text.find('%');
  std::string_view root;
  std::string_view rest;
  if (first_escape == std::string_view::npos) {
    root = text;
  } else {
    size_t slash = text.rfind('/', first_escape);
    if (slash != std::string_view::npos) {
      root = text.substr(0, slash);
      rest = text.substr(slash + 1);
    } else {
      rest = text;
    }
  }
  while (root.size() > 1 && root.back() == '/') root.remove_suffix(1);
  if (root.empty() || root == "/") {
    return Status::InvalidArgument(fmt::format(
        "path '{}' must begin with a fixed directory (like \"archive/%{{topic}}/%Y-%m-%d\"): it is "
        "where the sink finds its files at start",
        text));
  }
  PathTemplate t;
  t.root_ = std::string(root);
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) t.segments_.push_back({Segment::kLiteral, std::move(literal), 0});
    literal.clear();
  };
  for (size_t i = 0; i < rest.size(); ++i) {
    char ch = rest[i];
    if (ch != '%') {
      literal += ch;
      continue;
    }
    if (i + 1 >= rest.size()) {
      return Status::InvalidArgument(fmt::format("path '{}' ends with a lone '%'", text));
    }
    char e = rest[++i];
    if (e == '%') {
      literal += '%';
    } else if (e == '{') {
      size_t close = rest.find('}', i + 1);
      if (close == std::string_view::npos) {
        return Status::InvalidArgument(fmt::format("path '{}': '%{{' without '}}'", text));
      }
      std::string name(rest.substr(i + 1, close - i - 1));
      if (name.empty()) return Status::InvalidArgument(fmt::format("path '{}': empty %{{}}", text));
      flush();
      Segment::Kind kind = name == "topic"       ? Segment::kTopic
                           : name == "partition" ? Segment::kPartition
                                                 : Segment::kHeader;
      t.segments_.push_back({kind, std::move(name), 0});
      i = close;
    } else if (kTimeEscapes.find(e) != std::string_view::npos) {
      flush();
      t.segments_.push_back({Segment::kTime, {}, e});
      t.uses_time_ = true;
    } else {
      return Status::InvalidArgument(fmt::format("path '{}': unknown escape '%{}'", text, e));
    }
  }
  flush();
  return t;
}

Result<std::string> PathTemplate::Expand(const ExpandInput& in) const {
  std::string raw;
  for (const Segment& s : segments_) {
    switch (s.kind) {
      case Segment::kLiteral:
        raw += s.text;
        break;
      case Segment::kTime:
        AppendTime(s.escape, in.timestamp_ms, &raw);
        break;
      case Segment::kPartition:
        fmt::format_to(std::back_inserter(raw), "{}", in.partition);
        break;
      case Segment::kTopic:
      case Segment::kHeader: {
        std::string_view v = s.kind == Segment::kTopic ? in.topic
                             : in.event                ? in.event->header(s.text)
                                                       : std::string_view();
        if (std::string_view why = Unsafe(v); !why.empty()) {
          std::string shown(v.substr(0, 64));
          for (char& ch : shown) {
            if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
          }
          return Status::InvalidArgument(fmt::format("%{{{}}} = \"{}\" {}", s.text, shown, why));
        }
        raw += v;
        break;
      }
    }
  }
  // Normalise: drop empty and "." components, refuse "..".
  std::string out;
  size_t i = 0;
  while (i <= raw.size()) {
    size_t j = raw.find('/', i);
    if (j == std::string::npos) j = raw.size();
    std::string_view c(raw.data() + i, j - i);
    if (c == "..") {
      return Status::InvalidArgument(
          fmt::format("path \"{:.128}\" has a '..' component (would leave the archive root)", raw));
    }
    if (c.size() > kMaxComponentBytes) {
      return Status::InvalidArgument(fmt::format(
          "path component \"{:.64}...\" is longer than {} bytes", c, kMaxComponentBytes));
    }
    if (!c.empty() && c != ".") {
      if (!out.empty()) out += '/';
      out += c;
    }
    i = j + 1;
  }
  if (out.size() > kMaxBucketBytes) {
    return Status::InvalidArgument(
        fmt::format("path \"{:.64}...\" is longer than {} bytes", out, kMaxBucketBytes));
  }
  return out;
}

}  // namespace txpipe::sinks::archive
