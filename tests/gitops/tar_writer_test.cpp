#include "gitops/tar_writer.h"

#include <gtest/gtest.h>

#include "tests/gitops/tar_reader.h"

namespace shoal {
namespace {

TEST(TarWriterTest, FilesDirectoriesAndSymlinksRoundTrip) {
  TarWriter w;
  w.addDirectory("bin");
  w.addFile("bin/run", "#!/bin/sh\necho hi\n", 0755);
  w.addFile("README", "", 0644);
  w.addSymlink("latest", "bin/run");
  std::string tar = w.finish();
  auto entries = test::readTar(tar);
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].path, "bin/");
  EXPECT_EQ(entries[0].type, '5');
  EXPECT_EQ(entries[0].mode, 0755u);
  EXPECT_EQ(entries[1].path, "bin/run");
  EXPECT_EQ(entries[1].type, '0');
  EXPECT_EQ(entries[1].mode, 0755u);
  EXPECT_EQ(entries[1].content, "#!/bin/sh\necho hi\n");
  EXPECT_EQ(entries[2].content, "");
  EXPECT_EQ(entries[2].mode, 0644u);
  EXPECT_EQ(entries[3].type, '2');
  EXPECT_EQ(entries[3].link, "bin/run");
}

TEST(TarWriterTest, HeaderFieldsAreUstar) {
  TarWriter w;
  w.addFile("a.txt", std::string(513, 'x'), 0644);
  std::string tar = w.finish();
  // One header, two data blocks (513 bytes padded), two end blocks.
  ASSERT_EQ(tar.size(), 512u * 5);
  EXPECT_EQ(std::string(tar.data() + 100, 7), "0000644");
  EXPECT_EQ(std::string(tar.data() + 124, 11), "00000001001");  // 513 in octal
  EXPECT_EQ(std::string(tar.data() + 257, 6), std::string("ustar\0", 6));
  EXPECT_EQ(tar[154], '\0');  // checksum: six digits, NUL, space
  EXPECT_EQ(tar[155], ' ');
  EXPECT_EQ(tar[512 + 512], 'x');
  EXPECT_EQ(tar[512 + 513], '\0');  // padding
}

TEST(TarWriterTest, SameInputSameBytes) {
  auto make = [] {
    TarWriter w;
    w.addFile("f", "data", 0644);
    return w.finish();
  };
  EXPECT_EQ(make(), make());
}

TEST(TarWriterTest, LongNameUsesPrefixField) {
  std::string dir(120, 'd');
  std::string path = dir + "/file.txt";
  std::string prefix, name;
  ASSERT_TRUE(splitUstarName(path, &prefix, &name));
  EXPECT_EQ(prefix, dir);
  EXPECT_EQ(name, "file.txt");
  TarWriter w;
  w.addFile(path, "x");
  std::string tar = w.finish();
  EXPECT_EQ(tar[156], '0');  // no PAX header needed
  auto entries = test::readTar(tar);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].path, path);
}

TEST(TarWriterTest, NameThatDoesNotFitGetsPaxHeader) {
  std::string path = std::string(200, 'a') + "/" + std::string(120, 'b');  // last part > 100
  std::string prefix, name;
  EXPECT_FALSE(splitUstarName(path, &prefix, &name));
  std::string target(150, 't');
  TarWriter w;
  w.addSymlink(path, target);
  std::string tar = w.finish();
  EXPECT_EQ(tar[156], 'x');
  auto entries = test::readTar(tar);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].path, path);
  EXPECT_EQ(entries[0].link, target);
}

TEST(TarWriterTest, PaxRecordLengthCountsItsOwnDigits) {
  // A path whose record length crosses from 2 to 3 digits exercises the self-counting length.
  for (size_t n = 85; n < 110; ++n) {
    std::string path(n, 'p');
    path[50] = 'q';  // no '/' at all: only PAX can hold it once > 100
    TarWriter w;
    w.addFile(path, "z");
    auto entries = test::readTar(w.finish());
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].path, path);
  }
}

}  // namespace
}  // namespace shoal
