#include "common/duration.h"

#include <gtest/gtest.h>

namespace shoal {
namespace {

TEST(DurationTest, ParsesEveryUnit) {
  EXPECT_EQ(parseDuration("500ms"), Duration(500));
  EXPECT_EQ(parseDuration("2s"), Duration(2000));
  EXPECT_EQ(parseDuration("5m"), Duration(300000));
  EXPECT_EQ(parseDuration("2h"), Duration(7200000));
  EXPECT_EQ(parseDuration("90d"), Duration(90LL * 86400000));
}

TEST(DurationTest, RefusesBareNumbersSignsAndUnknownUnits) {
  EXPECT_FALSE(parseDuration("10"));
  EXPECT_FALSE(parseDuration("-1s"));
  EXPECT_FALSE(parseDuration("1.5s"));
  EXPECT_FALSE(parseDuration("s"));
  EXPECT_FALSE(parseDuration("10 s"));
  EXPECT_FALSE(parseDuration("3w"));
  EXPECT_FALSE(parseDuration("99999999999999999d"));
}

TEST(DurationTest, ParsesSizes) {
  EXPECT_EQ(parseSize("512"), 512);
  EXPECT_EQ(parseSize("64M"), 64LL << 20);
  EXPECT_EQ(parseSize("64Mi"), 64LL << 20);
  EXPECT_EQ(parseSize("2g"), 2LL << 30);
  EXPECT_EQ(parseSize("1T"), 1LL << 40);
  EXPECT_FALSE(parseSize("12Q"));
  EXPECT_FALSE(parseSize("M"));
}

TEST(DurationTest, FormatsForPeople) {
  EXPECT_EQ(formatDuration(Duration(2500)), "2.5s");
  EXPECT_EQ(formatDuration(Duration(120000)), "2m");
  EXPECT_EQ(formatDuration(Duration(250)), "250ms");
  EXPECT_EQ(formatDuration(Duration(86400000)), "1d");
}

}  // namespace
}  // namespace shoal
