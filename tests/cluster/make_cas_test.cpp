// scripts/make-cas, run for real: what it writes, and that it never overwrites.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>

#include "tests/cluster/test_pki.h"

namespace shoal {
namespace {

struct ScriptRun {
  int exit_code;
  std::string output;  // stdout and stderr
};

ScriptRun makeCas(const std::string& args) {
  std::string cmd = std::string(SHOAL_MAKE_CAS) + " " + args + " 2>&1";
  ScriptRun run{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  char buf[512];
  while (p != nullptr && fgets(buf, sizeof buf, p) != nullptr) run.output += buf;
  int status = p != nullptr ? pclose(p) : -1;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

mode_t modeOf(const std::string& path) {
  struct stat st {};
  stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

TEST(MakeCasTest, WritesTwoCasAndAnOperatorCertificate) {
  testing::TempDir tmp;
  std::string dir = tmp.file("pki");
  ScriptRun run = makeCas(dir + " alice");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  for (const char* f : {"cluster-ca.crt", "cluster-ca.key", "operator-ca.crt", "operator-ca.key",
                        "operator-alice.crt", "operator-alice.key"}) {
    EXPECT_NE(run.output.find(dir + "/" + f), std::string::npos) << f << " not reported";
  }
  for (const char* key : {"cluster-ca.key", "operator-ca.key", "operator-alice.key"}) {
    EXPECT_EQ(modeOf(dir + "/" + key), 0600u) << key;
  }
  SystemClock clock;
  std::string op = dir + "/operator-alice.crt";
  EXPECT_EQ(testing::verifyCert(op, dir + "/operator-ca.crt", clock.now(), X509_PURPOSE_SSL_CLIENT),
            "");
  EXPECT_NE(testing::verifyCert(op, dir + "/cluster-ca.crt", clock.now(), X509_PURPOSE_SSL_CLIENT),
            "");
  auto ca = pki::loadCerts(dir + "/cluster-ca.crt", "CA");
  ASSERT_TRUE(ca);
  EXPECT_EQ(X509_check_ca(ca->front().get()), 1);
  auto life = pki::asn1ToTime(X509_get0_notAfter(ca->front().get())) - clock.now();
  EXPECT_GT(life, std::chrono::hours(24 * 3649));
  auto key = pki::loadKey(dir + "/cluster-ca.key", "CA key");
  ASSERT_TRUE(key);
  EXPECT_TRUE(EVP_PKEY_is_a(key->get(), "EC"));
}

TEST(MakeCasTest, DefaultOperatorIsAdmin) {
  testing::TempDir tmp;
  ASSERT_EQ(makeCas(tmp.path() + "/pki").exit_code, 0);
  EXPECT_EQ(modeOf(tmp.path() + "/pki/operator-admin.key"), 0600u);
}

TEST(MakeCasTest, RefusesToOverwrite) {
  testing::TempDir tmp;
  std::string dir = tmp.file("pki");
  ASSERT_EQ(makeCas(dir).exit_code, 0);
  std::string before = pki::readFile(dir + "/cluster-ca.key", "key").value();
  ScriptRun again = makeCas(dir);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("refusing to overwrite"), std::string::npos) << again.output;
  EXPECT_EQ(pki::readFile(dir + "/cluster-ca.key", "key").value(), before);
}

}  // namespace
}  // namespace shoal
