#pragma once

#include <string>

namespace tether {

/// The name of tether's OpenSSL 3 provider, and the value of its "provider" property.
inline constexpr char kCtrProviderName[] = "tether";

/// Environment variable that, set to a non-empty value other than "0", keeps
/// SetUpCtrProvider from installing the provider (to compare against OpenSSL's own AES-CTR).
inline constexpr char kNoCtrProviderVariable[] = "TETHER_NO_CTR_PROVIDER";

/// Installs tether's AES-128/192/256-CTR provider in OpenSSL's default library context, once
/// per process: the "default" provider is loaded explicitly beside it (so it still serves
/// everything else) and "?provider=tether" becomes the default property query, so that an
/// implicit fetch such as libssh2 1.10's EVP_aes_128_ctr() lands on it.
///
/// Why: libssh2 1.10 calls EVP_Cipher on one 16-byte block at a time; the provider answers
/// those calls from a keystream computed ahead in bulk by the default provider's AES-CTR,
/// so each call is an XOR. The bytes are exactly OpenSSL's AES-CTR (128-bit big-endian
/// counter), under the full init/update/final contract that OpenSSL's own CTR-DRBG relies
/// on too. Key schedule and keystream are wiped when a context is freed or re-keyed.
///
/// Must run before the first libssh2 session. Thread-safe and idempotent: later calls return
/// the first outcome. Refuses (false, *error set) when FIPS mode is the default, since the
/// provider is no FIPS module.
bool InstallCtrProvider(std::string* error);

/// The startup path's call: InstallCtrProvider unless kNoCtrProviderVariable says no, with
/// a debug log line either way and a warning if it fails (OpenSSL's own AES-CTR then serves,
/// slower but identical on the wire). Enables ServedLogging.
void SetUpCtrProvider();

/// While enabled, each provider context that did any work logs at debug level, when freed,
/// which cipher it served and how many bytes in how many calls (event
/// "cipher_provider_served"). Disabled before logging is torn down at exit.
void SetCtrProviderServedLogging(bool enabled);

}  // namespace tether
