#include "tether/agent_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tether/ssh_wire.h"

namespace tether {
namespace {

constexpr uint8_t kFailure = 5;             // SSH_AGENT_FAILURE
constexpr uint8_t kRequestIdentities = 11;  // SSH2_AGENTC_REQUEST_IDENTITIES
constexpr uint8_t kIdentitiesAnswer = 12;   // SSH2_AGENT_IDENTITIES_ANSWER
constexpr uint8_t kSignRequest = 13;        // SSH2_AGENTC_SIGN_REQUEST
constexpr uint8_t kSignResponse = 14;       // SSH2_AGENT_SIGN_RESPONSE
// OpenSSH's agent refuses messages above 256 KiB; so does this client.
constexpr uint32_t kMaxMessage = 256 * 1024;
constexpr uint32_t kMaxIdentities = 1024;

}  // namespace

bool AgentClient::WaitFor(short events) {
  pollfd entries[2] = {{fd_.get(), events, 0}, {abort_fd_, POLLIN, 0}};
  const nfds_t count = abort_fd_ >= 0 ? 2 : 1;
  for (;;) {
    int rc = poll(entries, count, static_cast<int>(timeout_.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc > 0 && count == 2 && (entries[1].revents & POLLIN) != 0) {
      interrupted_ = true;
      return false;
    }
    return rc > 0;
  }
}

bool AgentClient::WriteAll(std::string_view data) {
  while (!data.empty()) {
    if (!WaitFor(POLLOUT)) return false;
    ssize_t n = send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool AgentClient::ReadAll(char* out, size_t size) {
  while (size > 0) {
    if (!WaitFor(POLLIN)) return false;
    ssize_t n = read(fd_.get(), out, size);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    out += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::unique_ptr<AgentClient> AgentClient::Connect(const std::string& socket_path,
                                                  std::string* error,
                                                  std::chrono::milliseconds timeout, int abort_fd) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(address.sun_path)) {
    *error = "bad agent socket path";
    return nullptr;
  }
  memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    *error = std::string("cannot connect: ") + strerror(errno);
    return nullptr;
  }
  return std::make_unique<AgentClient>(std::move(fd), timeout, abort_fd);
}

bool AgentClient::Exchange(const std::string& request, std::string* reply, std::string* error) {
  WireWriter framed;
  framed.PutString(request);
  if (!WriteAll(framed.data())) {
    *error = "the agent did not take the request";
    return false;
  }
  char length_bytes[4];
  if (!ReadAll(length_bytes, sizeof(length_bytes))) {
    *error = "no answer from the agent";
    return false;
  }
  uint32_t length = 0;
  WireReader(std::string_view(length_bytes, 4)).ReadU32(&length);
  if (length == 0 || length > kMaxMessage) {
    *error = "the agent's answer has a bad length";
    return false;
  }
  reply->assign(length, '\0');
  if (!ReadAll(reply->data(), length)) {
    *error = "the agent's answer was cut short";
    return false;
  }
  return true;
}

bool AgentClient::ListIdentities(std::vector<AgentIdentity>* identities, std::string* error) {
  std::string reply;
  if (!Exchange(std::string(1, static_cast<char>(kRequestIdentities)), &reply, error)) {
    return false;
  }
  WireReader reader(reply);
  uint8_t type = 0;
  uint32_t count = 0;
  if (!reader.ReadByte(&type) || type != kIdentitiesAnswer || !reader.ReadU32(&count) ||
      count > kMaxIdentities) {
    *error = "the agent refused to list its keys";
    return false;
  }
  identities->clear();
  for (uint32_t i = 0; i < count; ++i) {
    AgentIdentity identity;
    if (!reader.ReadString(&identity.blob) || !reader.ReadString(&identity.comment)) {
      *error = "the agent's list of keys is malformed";
      return false;
    }
    identities->push_back(std::move(identity));
  }
  return true;
}

bool AgentClient::Sign(std::string_view blob, std::string_view data, uint32_t flags,
                       std::string* algorithm, std::string* signature, std::string* error) {
  WireWriter request;
  request.PutByte(kSignRequest);
  request.PutString(blob);
  request.PutString(data);
  request.PutU32(flags);
  std::string reply;
  if (!Exchange(request.data(), &reply, error)) return false;
  WireReader reader(reply);
  uint8_t type = 0;
  std::string signature_blob;
  if (!reader.ReadByte(&type) || type == kFailure) {
    *error = "the agent refused to sign";
    return false;
  }
  if (type != kSignResponse || !reader.ReadString(&signature_blob)) {
    *error = "the agent's signature is malformed";
    return false;
  }
  WireReader inner(signature_blob);
  if (!inner.ReadString(algorithm) || !inner.ReadString(signature) || !inner.empty()) {
    *error = "the agent's signature is malformed";
    return false;
  }
  return true;
}

}  // namespace tether
