#include "common/clock.h"

#include <ctime>

namespace shoal {

TimePoint SystemClock::now() const {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

std::chrono::nanoseconds SystemClock::monotonic() const {
  return std::chrono::steady_clock::now().time_since_epoch();
}

FakeClock::FakeClock() : ms_(1767225600000) {}
TimePoint FakeClock::now() const { return fromUnixMs(ms_.load()); }
std::chrono::nanoseconds FakeClock::monotonic() const { return std::chrono::milliseconds(ms_.load()); }
void FakeClock::advance(Duration d) { ms_ += d.count(); }
void FakeClock::set(TimePoint t) { ms_ = toUnixMs(t); }

int64_t toUnixMs(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint fromUnixMs(int64_t ms) { return TimePoint(std::chrono::milliseconds(ms)); }

std::string formatTime(TimePoint t) {
  int64_t ms = toUnixMs(t);
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

}  // namespace shoal
