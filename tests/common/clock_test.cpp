#include "common/clock.h"

#include <gtest/gtest.h>

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

TEST(ClockTest, UnixMillisecondsRoundTrip) {
  EXPECT_EQ(toUnixMs(fromUnixMs(1767225600123)), 1767225600123);
}

}  // namespace
}  // namespace shoal
