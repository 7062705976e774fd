#include "tether/known_hosts.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "tether/base64.h"
#include "tether/hmac_sha1.h"
#include "tether/regular_file.h"
#include "tether/text.h"
#include "tether/unique_fd.h"

namespace tether {
namespace {

struct KeyKind {
  int libssh2_type;
  int knownhost_mask;
  const char* algorithm;
  const char* display;  // as ssh names the type in its messages
};

constexpr KeyKind kKeyKinds[] = {
    {LIBSSH2_HOSTKEY_TYPE_ED25519, LIBSSH2_KNOWNHOST_KEY_ED25519, "ssh-ed25519", "ED25519"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_256, LIBSSH2_KNOWNHOST_KEY_ECDSA_256, "ecdsa-sha2-nistp256",
     "ECDSA"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_384, "ecdsa-sha2-nistp384",
     "ECDSA"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_ECDSA_521, "ecdsa-sha2-nistp521",
     "ECDSA"},
    {LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "ssh-rsa", "RSA"},
    {LIBSSH2_HOSTKEY_TYPE_DSS, LIBSSH2_KNOWNHOST_KEY_SSHDSS, "ssh-dss", "DSA"},
};

const KeyKind* KindByType(int libssh2_type) {
  for (const KeyKind& kind : kKeyKinds) {
    if (kind.libssh2_type == libssh2_type) return &kind;
  }
  return nullptr;
}

const KeyKind* KindByMask(int mask) {
  for (const KeyKind& kind : kKeyKinds) {
    if (kind.knownhost_mask == mask) return &kind;
  }
  return nullptr;
}

std::string Trim(const std::string& line) {
  size_t begin = line.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  size_t end = line.find_last_not_of(" \t\r");
  return line.substr(begin, end - begin + 1);
}

// The base64 key of a "@revoked hosts keytype key" line, or "" if malformed.
std::string RevokedKeyOf(const std::string& line) {
  std::istringstream fields(line);
  std::string marker, hosts, type, key;
  fields >> marker >> hosts >> type >> key;
  return key;
}

// "|1|salt|hash ..." needs a 20-byte salt and a 20-byte hash (HMAC-SHA1), as in OpenSSH.
bool HashedHostIsWellFormed(const std::string& line) {
  if (line.rfind("|1|", 0) != 0) return true;
  std::string host_field = line.substr(0, line.find_first_of(" \t"));
  size_t separator = host_field.find('|', 3);
  if (separator == std::string::npos) return false;
  std::optional<std::string> salt = Base64Decode(host_field.substr(3, separator - 3));
  std::optional<std::string> hash = Base64Decode(host_field.substr(separator + 1));
  return salt && hash && salt->size() == 20 && hash->size() == 20;
}

// As for ssh_config: a line is bounded, so that an endless file costs bounded memory.
constexpr size_t kMaxLineBytes = size_t{1} << 20;

bool FileEndsWithNewline(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size == 0) return true;
  char last = '\n';
  return pread(fd, &last, 1, st.st_size - 1) == 1 && last == '\n';
}

}  // namespace

std::unique_ptr<KnownHosts> KnownHosts::Load(LIBSSH2_SESSION* session, HostKeyCheckConfig config,
                                             std::vector<std::string>* warnings) {
  KnownHostsPtr hosts(libssh2_knownhost_init(session));
  if (!hosts) return nullptr;
  config.host = Lowercase(config.host);
  std::unique_ptr<KnownHosts> known(new KnownHosts(std::move(hosts), std::move(config)));
  for (const std::string& path : known->config_.user_files) known->LoadFile(path, warnings);
  for (const std::string& path : known->config_.global_files) known->LoadFile(path, warnings);
  return known;
}

void KnownHosts::LoadFile(const std::string& path, std::vector<std::string>* warnings) {
  OpenedFile file;
  if (!OpenForReading(path, &file)) {
    if (errno != ENOENT) warnings->push_back("cannot read " + path + "; ignored");
    return;
  }
  switch (file.type) {
    case FileType::kRegular:
      break;
    case FileType::kNullDevice:
      return;
    case FileType::kDirectory:
    case FileType::kOther:
      // A FIFO would block for good, /dev/zero never ends: read regular files only.
      warnings->push_back(path + " is " + DescribeFileType(file.st) +
                          ", not a known_hosts file; ignored");
      return;
  }
  LineReader reader(file.fd.get(), kMaxLineBytes);
  std::string raw;
  for (int number = 1;; ++number) {
    const LineReader::Status status = reader.Next(&raw);
    if (status == LineReader::Status::kTooLong) {
      warnings->push_back(path + ":" + std::to_string(number) +
                          ": line longer than 1 MiB; the rest of the file is ignored");
      return;
    }
    if (status == LineReader::Status::kReadError) {
      warnings->push_back("cannot read " + path + "; the rest of the file is ignored");
      return;
    }
    if (status == LineReader::Status::kEnd) return;
    std::string line = Trim(raw);
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("@revoked", 0) == 0) {
      revoked_blobs_.push_back(RevokedKeyOf(line));
      continue;
    }
    // CA keys certify other keys; they are never a host's own key.
    if (line[0] == '@') continue;
    // libssh2 1.10 leaks an HMAC context on each check against a malformed hashed entry.
    if (!HashedHostIsWellFormed(line)) {
      warnings->push_back(path + ":" + std::to_string(number) +
                          ": malformed hashed host name; skipped");
      continue;
    }
    if (libssh2_knownhost_readline(hosts_.get(), line.c_str(), line.size(),
                                   LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0) {
      warnings->push_back(path + ":" + std::to_string(number) +
                          ": cannot parse this known_hosts line; skipped");
    }
  }
}

std::string KnownHosts::HostPattern() const {
  if (config_.port == 22) return config_.host;
  return "[" + config_.host + "]:" + std::to_string(config_.port);
}

int KnownHosts::Check(const std::string& blob, int key_mask) const {
  std::string pattern = HostPattern();
  // Port -1: libssh2 would otherwise fall back from "[host]:port" to plain "host", which
  // OpenSSH does not do.
  return libssh2_knownhost_checkp(
      hosts_.get(), pattern.c_str(), -1, blob.data(), blob.size(),
      LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | key_mask, nullptr);
}

std::vector<int> KnownHosts::KnownKeyMasks() const {
  // A key that cannot match anything: MISMATCH then means "an entry of this type exists".
  const std::string probe = "tether-probe";
  std::vector<int> masks;
  for (const KeyKind& kind : kKeyKinds) {
    if (Check(probe, kind.knownhost_mask) == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
      masks.push_back(kind.knownhost_mask);
    }
  }
  return masks;
}

std::string KnownHosts::PreferredAlgorithms(LIBSSH2_SESSION* session) const {
  const char** supported = nullptr;
  int count = libssh2_session_supported_algs(session, LIBSSH2_METHOD_HOSTKEY, &supported);
  if (count <= 0) return "";
  std::vector<std::string> preferred, rest;
  std::vector<int> known = KnownKeyMasks();
  for (int i = 0; i < count; ++i) {
    std::string name = supported[i];
    bool is_known = std::any_of(known.begin(), known.end(),
                                [&](int mask) { return name == KindByMask(mask)->algorithm; });
    (is_known ? preferred : rest).push_back(name);
  }
  libssh2_free(session, supported);
  std::string joined;
  for (const auto* list : {&preferred, &rest}) {
    for (const std::string& name : *list) joined += (joined.empty() ? "" : ",") + name;
  }
  return joined;
}

bool KnownHosts::Verify(const ServerHostKey& key, Failure* failure) {
  const KeyKind* kind = KindByType(key.libssh2_type);
  std::string encoded = Base64Encode(key.blob);
  if (std::find(revoked_blobs_.begin(), revoked_blobs_.end(), encoded) != revoked_blobs_.end()) {
    *failure = {ExitCode::kNotTrusted, "the " + std::string(kind ? kind->display : "") +
                                           " host key for " + HostPattern() + " (" +
                                           key.fingerprint +
                                           ") is marked as revoked; host key verification failed"};
    return false;
  }
  int result = kind ? Check(key.blob, kind->knownhost_mask) : LIBSSH2_KNOWNHOST_CHECK_FAILURE;
  if (result == LIBSSH2_KNOWNHOST_CHECK_MATCH) return true;
  std::vector<int> other_types = KnownKeyMasks();
  if (result == LIBSSH2_KNOWNHOST_CHECK_MISMATCH || !other_types.empty()) {
    std::string user_file =
        config_.user_files.empty() ? "~/.ssh/known_hosts" : config_.user_files.front();
    *failure = {ExitCode::kNotTrusted,
                "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!\n"
                "  IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n"
                "  The " +
                    std::string(kind ? kind->display : key.algorithm) + " host key for " +
                    HostPattern() + " is now " + key.fingerprint +
                    ", which is not the key known_hosts has for it.\n"
                    "  If the change is expected, remove the old key with:\n"
                    "    ssh-keygen -R '" +
                    HostPattern() + "' -f " + user_file + "\n  Host key verification failed."};
    return false;
  }
  if (config_.policy == HostKeyPolicy::kStrict || result == LIBSSH2_KNOWNHOST_CHECK_FAILURE) {
    *failure = {ExitCode::kNotTrusted,
                "no " + std::string(kind ? kind->display : key.algorithm) +
                    " host key is known for " + HostPattern() + " (server presented " +
                    key.fingerprint +
                    ") and strict checking is on; host key verification failed. Check the "
                    "fingerprint, then connect once with -o StrictHostKeyChecking=accept-new"};
    return false;
  }
  return AppendKey(key, failure);
}

std::string KnownHosts::StoredHostName() const {
  if (!config_.hash_new_entries) return HostPattern();
  // OpenSSH's hashed form: |1|base64(salt)|base64(HMAC-SHA1(salt, name)), salt 20 bytes.
  std::string salt(20, '\0');
  if (getrandom(salt.data(), salt.size(), 0) != static_cast<ssize_t>(salt.size())) {
    return HostPattern();
  }
  const Sha1Digest hash = HmacSha1(salt, HostPattern());
  return "|1|" + Base64Encode(salt) + "|" +
         Base64Encode(std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()));
}

bool KnownHosts::AppendKey(const ServerHostKey& key, Failure* failure) {
  if (config_.user_files.empty()) return true;
  const std::string& path = config_.user_files.front();
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    chmod(parent.c_str(), 0700);
  }
  // Read-write: FileEndsWithNewline reads the last byte back. O_NONBLOCK: a FIFO or a
  // device is refused below, never waited on.
  UniqueFd fd(
      open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0600));
  struct stat st {};
  if (fd && fstat(fd.get(), &st) == 0 && !S_ISREG(st.st_mode) && !IsNullDevice(st)) {
    *failure = {ExitCode::kNotTrusted, "cannot add the host key to " + path + ": it is " +
                                           DescribeFileType(st) + ", not a regular file"};
    return false;
  }
  std::string line = StoredHostName() + " " + key.algorithm + " " + Base64Encode(key.blob) + "\n";
  // The pool's setup threads may learn a key at the same moment: the newline check and the
  // write go together.
  static std::mutex append_mutex;
  const std::lock_guard<std::mutex> lock(append_mutex);
  if (fd && !FileEndsWithNewline(fd.get())) line.insert(0, "\n");
  if (!fd || write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    *failure = {ExitCode::kNotTrusted, ErrnoMessage("cannot add the host key to " + path)};
    return false;
  }
  libssh2_knownhost_readline(hosts_.get(), line.c_str(), line.size(),
                             LIBSSH2_KNOWNHOST_FILE_OPENSSH);
  return true;
}

bool GetServerHostKey(LIBSSH2_SESSION* session, ServerHostKey* key, Failure* failure) {
  size_t length = 0;
  int type = 0;
  const char* blob = libssh2_session_hostkey(session, &length, &type);
  const char* hash = libssh2_hostkey_hash(session, LIBSSH2_HOSTKEY_HASH_SHA256);
  const KeyKind* kind = KindByType(type);
  if (blob == nullptr || hash == nullptr || kind == nullptr) {
    *failure = {ExitCode::kNotTrusted,
                "the server presented a host key of a type tether "
                "cannot check (libssh2 type " +
                    std::to_string(type) + ")"};
    return false;
  }
  key->blob.assign(blob, length);
  key->libssh2_type = type;
  key->algorithm = kind->algorithm;
  key->fingerprint = "SHA256:" + Base64Encode(std::string_view(hash, 32), /*pad=*/false);
  return true;
}

}  // namespace tether
