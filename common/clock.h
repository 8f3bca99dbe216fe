// Time, injected. Nothing in shoal reads the time except through a `Clock`, so tests drive time
// with `FakeClock::advance` instead of sleeping (Mesos `Clock::advance`, Envoy
// `SimulatedTimeSystem`). Loops compute their next deadline from `now()`; tests advance the fake
// clock past it and call the loop's `tick()` themselves.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

namespace shoal {

using Duration = std::chrono::milliseconds;
// Wall-clock time: shown to people (events, status) and stored in SQLite as Unix milliseconds.
using TimePoint = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  // A monotonic reading for how long something took (a store round trip): never steps back, and
  // finer than `now()`. Fake clocks return their own time, so a simulation measures what it
  // simulated, not how fast the machine running it happens to be.
  virtual std::chrono::nanoseconds monotonic() const = 0;
};
using ClockPtr = std::unique_ptr<Clock>;

class SystemClock : public Clock {
 public:
  TimePoint now() const override;
  std::chrono::nanoseconds monotonic() const override;
};

// Starts at a fixed instant (2026-01-01T00:00:00Z) and moves only when told. Thread-safe.
class FakeClock : public Clock {
 public:
  FakeClock();
  TimePoint now() const override;
  std::chrono::nanoseconds monotonic() const override;
  void advance(Duration d);
  void set(TimePoint t);

 private:
  std::atomic<int64_t> ms_;
};

int64_t toUnixMs(TimePoint t);
TimePoint fromUnixMs(int64_t ms);
// RFC 3339 in UTC with milliseconds: "2026-11-27T16:19:25.123Z".
std::string formatTime(TimePoint t);

}  // namespace shoal
