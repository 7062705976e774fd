#include "tether/registry.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace tether {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

RegistryEntry SampleEntry() {
  RegistryEntry entry;
  entry.pid = 4242;
  entry.start_ticks = 987654;
  entry.started_unix = 1764000000;
  entry.ttl_end_unix = 1764028800;
  entry.forwards = {{"127.0.0.1:5432", "db:5432", 5432},
                    {"/tmp/a b\\c\n.sock", "/run/\tx.sock", 0}};
  entry.destination = "db";
  entry.user = "alice";
  entry.tied_to = 4000;
  return entry;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

TEST(RegistryEntry, FormatIsVersionedKeyValueLines) {
  EXPECT_EQ(FormatRegistryEntry(SampleEntry()),
            "tether-registry 1\n"
            "pid=4242\n"
            "start_ticks=987654\n"
            "started=1764000000\n"
            "ttl_end=1764028800\n"
            "destination=db\n"
            "user=alice\n"
            "tied_to=4000\n"
            "forward=127.0.0.1:5432\tdb:5432\t5432\n"
            "forward=/tmp/a b\\\\c\\x0a.sock\t/run/\\x09x.sock\t0\n");
}

TEST(RegistryEntry, DynamicForwardHasAFourthFieldAndRoundTrips) {
  RegistryEntry entry = SampleEntry();
  entry.forwards.push_back({"127.0.0.1:1080", "socks", 1080, ForwardKind::kDynamic});
  const std::string text = FormatRegistryEntry(entry);
  EXPECT_NE(text.find("forward=127.0.0.1:1080\tsocks\t1080\tdynamic\n"), std::string::npos) << text;
  EXPECT_NE(text.find("forward=127.0.0.1:5432\tdb:5432\t5432\n"), std::string::npos) << text;
  std::string error;
  std::optional<RegistryEntry> parsed = ParseRegistryEntry(text, &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(*parsed, entry);
}

TEST(RegistryEntry, RemoteForwardHasAFourthFieldAndRoundTrips) {
  RegistryEntry entry = SampleEntry();
  entry.forwards.push_back({"localhost:8080", "localhost:3000", 8080, ForwardKind::kRemote});
  const std::string text = FormatRegistryEntry(entry);
  EXPECT_NE(text.find("forward=localhost:8080\tlocalhost:3000\t8080\tremote\n"), std::string::npos)
      << text;
  std::string error;
  std::optional<RegistryEntry> parsed = ParseRegistryEntry(text, &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(*parsed, entry);
}

TEST(RegistryEntry, RoundTripsAnyBytes) {
  RegistryEntry entry = SampleEntry();
  entry.destination = std::string("h\0st\x7f\xff", 7);
  entry.ttl_end_unix.reset();
  std::string error;
  std::optional<RegistryEntry> parsed = ParseRegistryEntry(FormatRegistryEntry(entry), &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(*parsed, entry);
}

struct BadEntryCase {
  std::string text;
  std::string error;
};

class BadRegistryEntryTest : public ::testing::TestWithParam<BadEntryCase> {};

TEST_P(BadRegistryEntryTest, IsRejectedWithReason) {
  std::string error;
  EXPECT_EQ(ParseRegistryEntry(GetParam().text, &error), std::nullopt);
  EXPECT_EQ(error, GetParam().error);
}

const std::string kHead = "tether-registry 1\npid=1\nstart_ticks=2\n";

INSTANTIATE_TEST_SUITE_P(
    Registry, BadRegistryEntryTest,
    ::testing::Values(
        BadEntryCase{"", "not a tether registry entry (version 1)"},
        BadEntryCase{"tether-registry 2\npid=1\n", "not a tether registry entry (version 1)"},
        BadEntryCase{"tether-registry 1\n", "no pid or start time"},
        BadEntryCase{"tether-registry 1\npid=1\n", "no pid or start time"},
        BadEntryCase{kHead + "pid=x\n", "bad line 4: 'pid=x'"},
        BadEntryCase{kHead + "pid=-1\n", "bad line 4: 'pid=-1'"},
        BadEntryCase{kHead + "pid=99999999999\n", "bad line 4: 'pid=99999999999'"},
        BadEntryCase{kHead + "noequals\n", "bad line 4: 'noequals'"},
        BadEntryCase{kHead + "\n\n", "bad line 4: ''"},
        BadEntryCase{kHead + "user=a\\q\n", "bad line 4: 'user=a\\q'"},
        BadEntryCase{kHead + "user=a\\x4\n", "bad line 4: 'user=a\\x4'"},
        BadEntryCase{kHead + "forward=a\tb\n", "bad line 4: 'forward=a\\x09b'"},
        BadEntryCase{kHead + "forward=a\tb\t70000\n", "bad line 4: 'forward=a\\x09b\\x0970000'"},
        BadEntryCase{kHead + "forward=\tb\t1\n", "bad line 4: 'forward=\\x09b\\x091'"},
        BadEntryCase{kHead + "forward=a\tb\t1\tsideways\n",
                     "bad line 4: 'forward=a\\x09b\\x091\\x09sideways'"},
        BadEntryCase{kHead + "started=1.5\n", "bad line 4: 'started=1.5'"}));

TEST(RegistryEntry, UnknownKeysWithNumbersAreAccepted) {
  // A newer tether may add fields; an older `tether list` still shows the entry.
  std::string error;
  EXPECT_TRUE(ParseRegistryEntry(kHead + "future=5\n", &error)) << error;
}

TEST(RegistryDir, PathFollowsXdgRuntimeDirElseTmp) {
  const char* saved = std::getenv("XDG_RUNTIME_DIR");
  std::string restore = saved != nullptr ? saved : "";
  setenv("XDG_RUNTIME_DIR", "/run/user/77", 1);
  EXPECT_EQ(RegistryDirPath(), "/run/user/77/tether");
  setenv("XDG_RUNTIME_DIR", "relative", 1);
  EXPECT_EQ(RegistryDirPath(), "/tmp/tether-" + std::to_string(geteuid()));
  unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(RegistryDirPath(), "/tmp/tether-" + std::to_string(geteuid()));
  if (saved != nullptr) setenv("XDG_RUNTIME_DIR", restore.c_str(), 1);
}

TEST(RegistryDir, CreatedWithMode0700) {
  TempDir temp;
  const std::string dir = temp.Join("tether");
  mode_t old_mask = umask(0);
  std::string error;
  bool ok = PrepareRegistryDir(dir, &error);
  umask(old_mask);
  ASSERT_TRUE(ok) << error;
  struct stat st {};
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_TRUE(PrepareRegistryDir(dir, &error)) << error;  // existing and fine
}

struct DirModeCase {
  mode_t mode;
  bool accepted;
};

class RegistryDirModeTest : public ::testing::TestWithParam<DirModeCase> {};

TEST_P(RegistryDirModeTest, GroupOrWorldWritableIsRefused) {
  TempDir temp;
  const std::string dir = temp.Join("tether");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(chmod(dir.c_str(), GetParam().mode), 0);
  std::string error;
  EXPECT_EQ(PrepareRegistryDir(dir, &error), GetParam().accepted) << error;
  if (!GetParam().accepted) {
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(GetParam().mode));
    EXPECT_EQ(error,
              "registry directory " + dir + " refused: writable by others (mode " + mode + ")");
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, RegistryDirModeTest,
                         ::testing::Values(DirModeCase{0700, true}, DirModeCase{0755, true},
                                           DirModeCase{0770, false}, DirModeCase{0777, false},
                                           DirModeCase{0702, false}, DirModeCase{01777, false}));

TEST(RegistryDir, SymlinkAndFileAreRefused) {
  TempDir temp;
  ASSERT_EQ(mkdir(temp.Join("real").c_str(), 0700), 0);
  ASSERT_EQ(symlink(temp.Join("real").c_str(), temp.Join("link").c_str()), 0);
  std::string error;
  EXPECT_FALSE(PrepareRegistryDir(temp.Join("link"), &error));
  EXPECT_EQ(error, "registry directory " + temp.Join("link") + " refused: not a directory");
  ASSERT_TRUE(WriteFile(temp.Join("file"), "x"));
  EXPECT_FALSE(PrepareRegistryDir(temp.Join("file"), &error));
}

TEST(RegistryDir, AnotherUsersDirectoryIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a directory to another uid (nobody)";
  TempDir temp;
  const std::string dir = temp.Join("tether");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(chown(dir.c_str(), 65534, 65534), 0);
  std::string error;
  EXPECT_FALSE(PrepareRegistryDir(dir, &error));
  EXPECT_EQ(error, "registry directory " + dir + " refused: owned by uid 65534, not by this user");
}

TEST(ProcessStartTicks, SameForSameProcessDifferentForAnother) {
  std::optional<uint64_t> self = ProcessStartTicks(getpid());
  ASSERT_TRUE(self);
  EXPECT_EQ(ProcessStartTicks(getpid()), self);
  std::string error;
  auto child = testing::Subprocess::Start({"sleep", "30"}, {}, &error);
  ASSERT_TRUE(child) << error;
  std::optional<uint64_t> other = ProcessStartTicks(child->pid());
  ASSERT_TRUE(other);
  EXPECT_GE(*other, *self);
  child->Signal(SIGKILL);
  child->WaitExit(std::chrono::seconds(5));
  EXPECT_EQ(ProcessStartTicks(child->pid()), std::nullopt);
  EXPECT_EQ(ProcessStartTicks(0), std::nullopt);
}

TEST(Registry, PublishWritesEntryAndDestructionRemovesIt) {
  TempDir temp;
  RegistryEntry entry = SampleEntry();
  entry.pid = getpid();
  entry.start_ticks = *ProcessStartTicks(getpid());
  const std::string path = EntryPath(temp.path(), entry.pid, entry.start_ticks);
  std::string error;
  {
    std::unique_ptr<Registration> registration = Registration::Publish(temp.path(), entry, &error);
    ASSERT_TRUE(registration) << error;
    EXPECT_EQ(ReadFile(path), FormatRegistryEntry(entry));
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    std::vector<std::string> warnings;
    std::vector<RegistryEntry> live = LoadLiveEntries(temp.path(), &warnings);
    ASSERT_EQ(live.size(), 1u);
    EXPECT_EQ(live[0], entry);
  }
  EXPECT_FALSE(Exists(path));
}

TEST(Registry, DeadOwnersAndReusedPidsArePrunedLiveOnesKept) {
  TempDir temp;
  const std::string dir = temp.path();
  const pid_t self = getpid();
  const uint64_t ticks = *ProcessStartTicks(self);
  RegistryEntry live = SampleEntry();
  live.pid = self;
  live.start_ticks = ticks;
  ASSERT_TRUE(WriteFile(EntryPath(dir, self, ticks), FormatRegistryEntry(live)));
  ASSERT_TRUE(WriteFile(ControlSocketPath(dir, self, ticks), ""));
  // This pid, but another start time: a process that reused the pid of a dead tunnel.
  RegistryEntry reused = live;
  reused.start_ticks = ticks + 1;
  ASSERT_TRUE(WriteFile(EntryPath(dir, self, ticks + 1), FormatRegistryEntry(reused)));
  ASSERT_TRUE(WriteFile(ControlSocketPath(dir, self, ticks + 1), ""));
  ASSERT_TRUE(WriteFile(dir + "/." + RegistryStem(self, ticks + 1) + ".entry.tmp", ""));
  // A pid beyond pid_max never exists.
  ASSERT_TRUE(WriteFile(dir + "/999999999-5.entry", FormatRegistryEntry(reused)));
  ASSERT_TRUE(WriteFile(dir + "/unrelated.txt", "kept"));
  std::vector<std::string> warnings;
  std::vector<RegistryEntry> entries = LoadLiveEntries(dir, &warnings);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0], live);
  EXPECT_TRUE(Exists(EntryPath(dir, self, ticks)));
  EXPECT_TRUE(Exists(ControlSocketPath(dir, self, ticks)));
  EXPECT_FALSE(Exists(EntryPath(dir, self, ticks + 1)));
  EXPECT_FALSE(Exists(ControlSocketPath(dir, self, ticks + 1)));
  EXPECT_FALSE(Exists(dir + "/." + RegistryStem(self, ticks + 1) + ".entry.tmp"));
  EXPECT_FALSE(Exists(dir + "/999999999-5.entry"));
  EXPECT_TRUE(Exists(dir + "/unrelated.txt"));
  EXPECT_TRUE(warnings.empty());
}

TEST(Registry, EntryWhoseContentDisagreesWithItsNameIsIgnored) {
  TempDir temp;
  const pid_t self = getpid();
  const uint64_t ticks = *ProcessStartTicks(self);
  RegistryEntry other = SampleEntry();  // pid 4242 inside a file named after this process
  ASSERT_TRUE(WriteFile(EntryPath(temp.path(), self, ticks), FormatRegistryEntry(other)));
  std::vector<std::string> warnings;
  EXPECT_TRUE(LoadLiveEntries(temp.path(), &warnings).empty());
}

TEST(Registry, UnreadableEntryOfALiveOwnerIsReportedNotRemoved) {
  TempDir temp;
  const pid_t self = getpid();
  const uint64_t ticks = *ProcessStartTicks(self);
  const std::string path = EntryPath(temp.path(), self, ticks);
  ASSERT_TRUE(WriteFile(path, "garbage"));
  std::vector<std::string> warnings;
  EXPECT_TRUE(LoadLiveEntries(temp.path(), &warnings).empty());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0],
            "ignoring registry entry " + path + ": not a tether registry entry (version 1)");
  EXPECT_TRUE(Exists(path));
}

}  // namespace
}  // namespace tether
