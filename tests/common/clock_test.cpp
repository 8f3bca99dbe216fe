#include "common/clock.h"

#include <gtest/gtest.h>

#include <thread>

namespace shoal {
namespace {

TEST(ClockTest, FakeClockMovesOnlyWhenTold) {
  FakeClock clock;
  TimePoint t0 = clock.now();
  EXPECT_EQ(clock.now(), t0);
  clock.advance(Duration(1500));
  EXPECT_EQ(clock.now() - t0, Duration(1500));
  EXPECT_EQ(formatTime(t0), "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(formatTime(clock.now()), "2026-01-01T00:00:01.500Z");
}

// A simulation measures round trips with the fake clock: however slow the machine running it (a
// sanitizer build), a store call takes no simulated time, so latency facts and every choice made
// from them replay the same from a seed.
TEST(ClockTest, FakeMonotonicReadingMovesOnlyWithTheClock) {
  FakeClock clock;
  auto m0 = clock.monotonic();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(clock.monotonic(), m0);
  clock.advance(Duration(250));
  EXPECT_EQ(clock.monotonic() - m0, std::chrono::milliseconds(250));
}

TEST(ClockTest, SystemMonotonicReadingNeverStepsBack) {
  SystemClock clock;
  auto m0 = clock.monotonic();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  auto m1 = clock.monotonic();
  EXPECT_GE(m1 - m0, std::chrono::milliseconds(2));
}

TEST(ClockTest, UnixMillisecondsRoundTrip) {
  EXPECT_EQ(toUnixMs(fromUnixMs(1767225600123)), 1767225600123);
}

}  // namespace
}  // namespace shoal
