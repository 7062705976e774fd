#include "tether/ctr_provider.h"

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <utility>

#include "tether/logging.h"

namespace tether {
namespace {

// The provider's own state is one context per EVP_CIPHER_CTX; nothing is shared between
// contexts but this flag, so libssh2's two directions (and the DRBG) never contend.
std::atomic<bool> g_served_logging{false};

// The references OSSL_PROVIDER_load hands out, given back at exit just before OpenSSL's own
// cleanup (registered later, so run earlier): contexts still open then (the DRBGs) keep
// their own references, and the provider stays usable until OpenSSL frees them.
OSSL_PROVIDER* g_loaded_default = nullptr;
OSSL_PROVIDER* g_loaded_ours = nullptr;

void UnloadAtExit() {
  if (g_loaded_ours != nullptr) OSSL_PROVIDER_unload(g_loaded_ours);
  if (g_loaded_default != nullptr) OSSL_PROVIDER_unload(g_loaded_default);
}

constexpr size_t kBlockBytes = 16;
// The keystream is made ahead this much at most: big enough that AES-NI runs at full
// speed (~9 GB/s here), small enough to stay in L1/L2 next to the packet.
constexpr size_t kMaxChunkBytes = size_t{16} * 1024;
// The first chunk after a (re)init is small and each further one doubles: OpenSSL's
// CTR-DRBG sets a new IV for every RAND_bytes (libssh2 asks for random padding per packet)
// and must not pay for 16 KiB of keystream it never uses.
constexpr size_t kFirstChunkBytes = 512;
// A call this long, arriving when no keystream is buffered, is encrypted in place by the
// inner cipher directly: making keystream first would only add a pass over memory.
constexpr size_t kDirectBytes = 4096;
// EVP_EncryptUpdate takes an int length; a whole number of blocks below INT_MAX.
constexpr size_t kMaxUpdateBytes = size_t{1} << 30;

alignas(64) const unsigned char kZeros[kMaxChunkBytes] = {};

/// One of the three AES-CTR variants the provider serves.
struct CtrVariant {
  const char* name;  ///< OpenSSL's name, "AES-128-CTR"
  size_t key_bytes;
};

constexpr CtrVariant kVariants[] = {
    {"AES-128-CTR", 16},
    {"AES-192-CTR", 24},
    {"AES-256-CTR", 32},
};

/// A 128-bit big-endian counter block as two halves, so that advancing it by n blocks is an
/// add with carry; it wraps from ff..ff to 00..00 as OpenSSL's CTR does.
struct Counter128 {
  uint64_t high = 0;
  uint64_t low = 0;

  static Counter128 Load(const unsigned char* bytes) {
    Counter128 counter;
    for (int i = 0; i < 8; ++i) counter.high = (counter.high << 8) | bytes[i];
    for (int i = 8; i < 16; ++i) counter.low = (counter.low << 8) | bytes[i];
    return counter;
  }
  void Store(unsigned char* bytes) const {
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(high >> (56 - 8 * i));
    for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<unsigned char>(low >> (56 - 8 * i));
  }
  void Add(uint64_t blocks) {
    const uint64_t before = low;
    low += blocks;
    if (low < before) ++high;
  }
  void Subtract(uint64_t blocks) {
    const uint64_t before = low;
    low -= blocks;
    if (low > before) --high;
  }
};

/// XORs `size` bytes of `keystream` into `in`, to `out` (which may be `in`), a machine word
/// at a time: memcpy keeps it free of alignment assumptions and compiles to plain loads.
void XorInto(unsigned char* out, const unsigned char* in, const unsigned char* keystream,
             size_t size) {
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t data = 0;
    uint64_t key = 0;
    std::memcpy(&data, in + i, 8);
    std::memcpy(&key, keystream + i, 8);
    data ^= key;
    std::memcpy(out + i, &data, 8);
  }
  for (; i < size; ++i) out[i] = in[i] ^ keystream[i];
}

/// A cipher context. `inner` is the default provider's AES-CTR under the same key; its
/// counter is always `next` (it is only ever fed whole blocks). The buffered keystream is
/// the blocks just before `next`: [keystream, keystream + buffered) with `used` of them
/// consumed. In OpenSSL's own terms the position is: the counter of the next block not yet
/// touched, CurrentCounter(), and "num", the bytes used of the block before it.
struct CtrContext {
  const CtrVariant* variant = nullptr;
  EVP_CIPHER_CTX* inner = nullptr;
  bool key_set = false;
  unsigned int padding = 1;  // kept and answered only: a stream cipher does not pad
  unsigned char original_iv[kBlockBytes] = {};
  Counter128 next;
  size_t buffered = 0;
  size_t used = 0;
  size_t dirty = 0;  // keystream bytes written since the last wipe
  size_t next_chunk = kFirstChunkBytes;
  uint64_t bytes_served = 0;
  uint64_t calls = 0;
  unsigned char updated_iv[kBlockBytes] = {};  // what an "updated-iv" octet_ptr points at
  alignas(64) unsigned char keystream[kMaxChunkBytes];

  ~CtrContext() {
    OPENSSL_cleanse(keystream, dirty);
    EVP_CIPHER_CTX_free(inner);  // wipes the key schedule
  }

  Counter128 CurrentCounter() const {
    Counter128 counter = next;
    const size_t touched = (used + kBlockBytes - 1) / kBlockBytes;
    counter.Subtract(buffered / kBlockBytes - touched);
    return counter;
  }

  /// Drops the buffered keystream (wiped) and restarts at `counter`, optionally re-keyed.
  bool Restart(const unsigned char* key, Counter128 counter) {
    OPENSSL_cleanse(keystream, dirty);
    dirty = buffered = used = 0;
    next_chunk = kFirstChunkBytes;
    next = counter;
    unsigned char iv[kBlockBytes];
    counter.Store(iv);
    return EVP_EncryptInit_ex(inner, nullptr, nullptr, key, iv) == 1;
  }

  bool Refill(size_t wanted) {
    const size_t rounded =
        (std::min(wanted, kMaxChunkBytes) + kBlockBytes - 1) & ~(kBlockBytes - 1);
    const size_t chunk = std::max(next_chunk, rounded);
    int written = 0;
    if (EVP_EncryptUpdate(inner, keystream, &written, kZeros, static_cast<int>(chunk)) != 1 ||
        static_cast<size_t>(written) != chunk) {
      return false;
    }
    next.Add(chunk / kBlockBytes);
    buffered = chunk;
    used = 0;
    dirty = std::max(dirty, chunk);
    next_chunk = std::min(next_chunk * 2, kMaxChunkBytes);
    return true;
  }

  bool EncryptDirect(unsigned char* out, const unsigned char* in, size_t size) {
    int written = 0;
    if (EVP_EncryptUpdate(inner, out, &written, in, static_cast<int>(size)) != 1 ||
        static_cast<size_t>(written) != size) {
      return false;
    }
    next.Add(size / kBlockBytes);
    return true;
  }

  bool Crypt(unsigned char* out, const unsigned char* in, size_t size) {
    ++calls;
    bytes_served += size;
    // libssh2 1.10 calls once per 16-byte block: that call, from keystream already made, is
    // the one that must cost least.
    if (size == kBlockBytes && buffered - used >= kBlockBytes) {
      XorInto(out, in, keystream + used, kBlockBytes);
      used += kBlockBytes;
      return true;
    }
    while (size > 0) {
      if (used == buffered) {
        buffered = used = 0;
        if (size >= kDirectBytes) {
          const size_t direct = std::min(size & ~(kBlockBytes - 1), kMaxUpdateBytes);
          if (!EncryptDirect(out, in, direct)) return false;
          out += direct;
          in += direct;
          size -= direct;
          continue;
        }
        if (!Refill(size)) return false;
      }
      const size_t take = std::min(size, buffered - used);
      XorInto(out, in, keystream + used, take);
      used += take;
      out += take;
      in += take;
      size -= take;
    }
    return true;
  }

  /// OpenSSL's "num" set: `num` bytes into the block before CurrentCounter() (0: at it).
  bool SetNum(unsigned int num) {
    Counter128 counter = CurrentCounter();
    if (num == 0) return Restart(nullptr, counter);
    counter.Subtract(1);
    if (!Restart(nullptr, counter) || !Refill(kBlockBytes)) return false;
    used = num;
    return true;
  }
};

CtrContext* AsContext(void* vctx) { return static_cast<CtrContext*>(vctx); }

int SetCtxParams(void* vctx, const OSSL_PARAM params[]) {
  CtrContext* ctx = AsContext(vctx);
  if (params == nullptr) return 1;
  if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_CIPHER_PARAM_PADDING)) {
    if (!OSSL_PARAM_get_uint(p, &ctx->padding)) return 0;
  }
  if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_CIPHER_PARAM_NUM)) {
    unsigned int num = 0;
    if (!OSSL_PARAM_get_uint(p, &num) || num >= kBlockBytes || !ctx->SetNum(num)) return 0;
  }
  if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_CIPHER_PARAM_KEYLEN)) {
    size_t keylen = 0;
    if (!OSSL_PARAM_get_size_t(p, &keylen) || keylen != ctx->variant->key_bytes) return 0;
  }
  return 1;
}

int Init(void* vctx, const unsigned char* key, size_t keylen, const unsigned char* iv, size_t ivlen,
         const OSSL_PARAM params[]) {
  CtrContext* ctx = AsContext(vctx);
  if (key != nullptr && keylen != ctx->variant->key_bytes) return 0;
  if (iv != nullptr && ivlen != kBlockBytes) return 0;
  // As OpenSSL's CTR: a new IV starts there; without one the counter goes on from the next
  // untouched block (what is left of a partly used block is dropped).
  Counter128 start = ctx->CurrentCounter();
  if (iv != nullptr) {
    start = Counter128::Load(iv);
    std::memcpy(ctx->original_iv, iv, kBlockBytes);
  }
  if (!ctx->Restart(key, start)) return 0;
  if (key != nullptr) ctx->key_set = true;
  return SetCtxParams(vctx, params);
}

int Update(void* vctx, unsigned char* out, size_t* outl, size_t outsize, const unsigned char* in,
           size_t inl) {
  CtrContext* ctx = AsContext(vctx);
  if (!ctx->key_set || outsize < inl) return 0;
  if (inl > 0 && !ctx->Crypt(out, in, inl)) return 0;
  *outl = inl;
  return 1;
}

int Final(void* vctx, unsigned char* /*out*/, size_t* outl, size_t /*outsize*/) {
  if (!AsContext(vctx)->key_set) return 0;
  *outl = 0;
  return 1;
}

void FreeContext(void* vctx) {
  std::unique_ptr<CtrContext> ctx(AsContext(vctx));
  if (ctx == nullptr || ctx->calls == 0 || !g_served_logging.load()) return;
  try {
    LogEvent(spdlog::level::trace, "cipher_provider_served",
             "{cipher} served {bytes} bytes in {calls} calls from a keystream made ahead",
             {{"cipher", ctx->variant->name}, {"bytes", ctx->bytes_served}, {"calls", ctx->calls}});
  } catch (...) {  // called from OpenSSL's C: nothing may escape
  }
}

void* NewContextFor(const CtrVariant& variant) {
  std::unique_ptr<CtrContext> ctx(new (std::nothrow) CtrContext());
  if (ctx == nullptr) return nullptr;
  ctx->variant = &variant;
  ctx->inner = EVP_CIPHER_CTX_new();
  // Explicitly the default provider's: the default properties would fetch this one again.
  EVP_CIPHER* aes = EVP_CIPHER_fetch(nullptr, variant.name, "provider=default");
  const bool ok = ctx->inner != nullptr && aes != nullptr &&
                  EVP_EncryptInit_ex(ctx->inner, aes, nullptr, nullptr, nullptr) == 1;
  EVP_CIPHER_free(aes);  // the inner context holds its own reference
  if (!ok) return nullptr;
  return ctx.release();
}

void* DupContext(void* vctx) {
  const CtrContext* source = AsContext(vctx);
  std::unique_ptr<CtrContext> copy(new (std::nothrow) CtrContext());
  if (copy == nullptr) return nullptr;
  EVP_CIPHER_CTX* inner = EVP_CIPHER_CTX_new();
  if (inner == nullptr) return nullptr;
  if (EVP_CIPHER_CTX_copy(inner, source->inner) != 1) {
    EVP_CIPHER_CTX_free(inner);
    return nullptr;
  }
  *copy = *source;  // only `inner` is not a value; the keystream buffer is copied whole
  copy->inner = inner;
  copy->calls = 0;
  copy->bytes_served = 0;
  return copy.release();
}

template <size_t kIndex>
void* NewContext(void* /*provctx*/) {
  return NewContextFor(kVariants[kIndex]);
}

int GetCtxParams(void* vctx, OSSL_PARAM params[]) {
  CtrContext* ctx = AsContext(vctx);
  OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_KEYLEN);
  if (p != nullptr && !OSSL_PARAM_set_size_t(p, ctx->variant->key_bytes)) return 0;
  p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_IVLEN);
  if (p != nullptr && !OSSL_PARAM_set_size_t(p, kBlockBytes)) return 0;
  p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_PADDING);
  if (p != nullptr && !OSSL_PARAM_set_uint(p, ctx->padding)) return 0;
  p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_NUM);
  if (p != nullptr && !OSSL_PARAM_set_uint(p, static_cast<unsigned int>(ctx->used % kBlockBytes))) {
    return 0;
  }
  // OpenSSL answers "iv" with the IV given at init and "updated-iv" with the counter now,
  // as a string or as a pointer into the context, whichever the caller asked for.
  ctx->CurrentCounter().Store(ctx->updated_iv);
  for (auto [name, bytes] : {std::pair{OSSL_CIPHER_PARAM_IV, ctx->original_iv},
                             std::pair{OSSL_CIPHER_PARAM_UPDATED_IV, ctx->updated_iv}}) {
    p = OSSL_PARAM_locate(params, name);
    if (p == nullptr) continue;
    const bool ok = p->data_type == OSSL_PARAM_OCTET_PTR
                        ? OSSL_PARAM_set_octet_ptr(p, bytes, kBlockBytes)
                        : OSSL_PARAM_set_octet_string(p, bytes, kBlockBytes);
    if (!ok) return 0;
  }
  return 1;
}

template <size_t kIndex>
int GetParams(OSSL_PARAM params[]) {
  OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_MODE);
  if (p != nullptr && !OSSL_PARAM_set_uint(p, EVP_CIPH_CTR_MODE)) return 0;
  p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_KEYLEN);
  if (p != nullptr && !OSSL_PARAM_set_size_t(p, kVariants[kIndex].key_bytes)) return 0;
  p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_IVLEN);
  if (p != nullptr && !OSSL_PARAM_set_size_t(p, kBlockBytes)) return 0;
  p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_BLOCK_SIZE);
  if (p != nullptr && !OSSL_PARAM_set_size_t(p, 1)) return 0;  // a stream: any length
  for (const char* flag :
       {OSSL_CIPHER_PARAM_AEAD, OSSL_CIPHER_PARAM_CUSTOM_IV, OSSL_CIPHER_PARAM_CTS,
        OSSL_CIPHER_PARAM_TLS1_MULTIBLOCK, OSSL_CIPHER_PARAM_HAS_RAND_KEY}) {
    p = OSSL_PARAM_locate(params, flag);
    if (p != nullptr && !OSSL_PARAM_set_int(p, 0)) return 0;
  }
  return 1;
}

const OSSL_PARAM kGettableParams[] = {
    OSSL_PARAM_uint(OSSL_CIPHER_PARAM_MODE, nullptr),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_KEYLEN, nullptr),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_IVLEN, nullptr),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_BLOCK_SIZE, nullptr),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_AEAD, nullptr),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_CUSTOM_IV, nullptr),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_CTS, nullptr),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_TLS1_MULTIBLOCK, nullptr),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_HAS_RAND_KEY, nullptr),
    OSSL_PARAM_END,
};

const OSSL_PARAM kGettableCtxParams[] = {
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_KEYLEN, nullptr),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_IVLEN, nullptr),
    OSSL_PARAM_uint(OSSL_CIPHER_PARAM_PADDING, nullptr),
    OSSL_PARAM_uint(OSSL_CIPHER_PARAM_NUM, nullptr),
    OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_IV, nullptr, 0),
    OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_UPDATED_IV, nullptr, 0),
    OSSL_PARAM_END,
};

const OSSL_PARAM kSettableCtxParams[] = {
    OSSL_PARAM_uint(OSSL_CIPHER_PARAM_PADDING, nullptr),
    OSSL_PARAM_uint(OSSL_CIPHER_PARAM_NUM, nullptr),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_KEYLEN, nullptr),
    OSSL_PARAM_END,
};

const OSSL_PARAM* GettableParams(void* /*provctx*/) { return kGettableParams; }
const OSSL_PARAM* GettableCtxParams(void* /*cctx*/, void* /*provctx*/) {
  return kGettableCtxParams;
}
const OSSL_PARAM* SettableCtxParams(void* /*cctx*/, void* /*provctx*/) {
  return kSettableCtxParams;
}

/// OSSL_DISPATCH wants every function as void(*)(void); the core casts it back by id.
template <typename Function>
OSSL_DISPATCH Entry(int id, Function* function) {
  return {id, reinterpret_cast<void (*)(void)>(function)};
}

template <size_t kIndex>
const OSSL_DISPATCH* CipherFunctions() {
  static const OSSL_DISPATCH kFunctions[] = {
      Entry(OSSL_FUNC_CIPHER_NEWCTX, &NewContext<kIndex>),
      Entry(OSSL_FUNC_CIPHER_ENCRYPT_INIT, &Init),
      Entry(OSSL_FUNC_CIPHER_DECRYPT_INIT, &Init),
      Entry(OSSL_FUNC_CIPHER_UPDATE, &Update),
      Entry(OSSL_FUNC_CIPHER_FINAL, &Final),
      Entry(OSSL_FUNC_CIPHER_CIPHER, &Update),
      Entry(OSSL_FUNC_CIPHER_FREECTX, &FreeContext),
      Entry(OSSL_FUNC_CIPHER_DUPCTX, &DupContext),
      Entry(OSSL_FUNC_CIPHER_GET_PARAMS, &GetParams<kIndex>),
      Entry(OSSL_FUNC_CIPHER_GET_CTX_PARAMS, &GetCtxParams),
      Entry(OSSL_FUNC_CIPHER_SET_CTX_PARAMS, &SetCtxParams),
      Entry(OSSL_FUNC_CIPHER_GETTABLE_PARAMS, &GettableParams),
      Entry(OSSL_FUNC_CIPHER_GETTABLE_CTX_PARAMS, &GettableCtxParams),
      Entry(OSSL_FUNC_CIPHER_SETTABLE_CTX_PARAMS, &SettableCtxParams),
      {0, nullptr},
  };
  return kFunctions;
}

constexpr char kProperties[] = "provider=tether";

const OSSL_ALGORITHM* Algorithms() {
  static const OSSL_ALGORITHM kAlgorithms[] = {
      {kVariants[0].name, kProperties, CipherFunctions<0>(), "AES-128-CTR, keystream ahead"},
      {kVariants[1].name, kProperties, CipherFunctions<1>(), "AES-192-CTR, keystream ahead"},
      {kVariants[2].name, kProperties, CipherFunctions<2>(), "AES-256-CTR, keystream ahead"},
      {nullptr, nullptr, nullptr, nullptr},
  };
  return kAlgorithms;
}

const OSSL_ALGORITHM* QueryOperation(void* /*provctx*/, int operation_id, int* no_cache) {
  *no_cache = 0;
  return operation_id == OSSL_OP_CIPHER ? Algorithms() : nullptr;
}

const OSSL_PARAM kProviderGettable[] = {
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, nullptr, 0),
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, nullptr, 0),
    OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, nullptr),
    OSSL_PARAM_END,
};

const OSSL_PARAM* ProviderGettableParams(void* /*provctx*/) { return kProviderGettable; }

int ProviderGetParams(void* /*provctx*/, OSSL_PARAM params[]) {
  OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
  if (p != nullptr && !OSSL_PARAM_set_utf8_ptr(p, "tether AES-CTR provider")) return 0;
  p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
  if (p != nullptr && !OSSL_PARAM_set_utf8_ptr(p, TETHER_VERSION)) return 0;
  p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
  if (p != nullptr && !OSSL_PARAM_set_int(p, 1)) return 0;
  return 1;
}

int ProviderInit(const OSSL_CORE_HANDLE* /*handle*/, const OSSL_DISPATCH* /*in*/,
                 const OSSL_DISPATCH** out, void** provctx) {
  static const OSSL_DISPATCH kProviderFunctions[] = {
      Entry(OSSL_FUNC_PROVIDER_QUERY_OPERATION, &QueryOperation),
      Entry(OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, &ProviderGettableParams),
      Entry(OSSL_FUNC_PROVIDER_GET_PARAMS, &ProviderGetParams),
      {0, nullptr},
  };
  // Contexts need nothing from the provider; the core only wants a context to pass back.
  static int provider_context = 0;
  *out = kProviderFunctions;
  *provctx = &provider_context;
  return 1;
}

/// The OpenSSL error queue's oldest entry as text, for a failure message.
std::string OpenSslError(const char* what) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return what;
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return std::string(what) + ": " + text;
}

bool Install(std::string* error) {
  if (EVP_default_properties_is_fips_enabled(nullptr) == 1) {
    *error = "OpenSSL runs in FIPS mode; tether's AES-CTR provider is not a FIPS module";
    return false;
  }
  // Loading any provider explicitly stops OpenSSL from loading "default" on its own, so it
  // is loaded first; both stay loaded for the life of the process.
  g_loaded_default = OSSL_PROVIDER_load(nullptr, "default");
  if (g_loaded_default == nullptr) {
    *error = OpenSslError("cannot load OpenSSL's default provider");
    return false;
  }
  if (OSSL_PROVIDER_add_builtin(nullptr, kCtrProviderName, &ProviderInit) != 1) {
    *error = OpenSslError("cannot add tether's AES-CTR provider");
    return false;
  }
  g_loaded_ours = OSSL_PROVIDER_load(nullptr, kCtrProviderName);
  if (g_loaded_ours == nullptr) {
    *error = OpenSslError("cannot load tether's AES-CTR provider");
    return false;
  }
  std::atexit(UnloadAtExit);
  // Optional ("?"): algorithms the provider lacks still come from the default provider.
  if (EVP_set_default_properties(nullptr, "?provider=tether") != 1) {
    *error = OpenSslError("cannot prefer tether's AES-CTR provider");
    return false;
  }
  return true;
}

}  // namespace

bool InstallCtrProvider(std::string* error) {
  static std::once_flag once;
  static bool installed = false;
  static std::string failure;
  std::call_once(once, [] { installed = Install(&failure); });
  if (!installed && error != nullptr) *error = failure;
  return installed;
}

void SetCtrProviderServedLogging(bool enabled) { g_served_logging.store(enabled); }

void SetUpCtrProvider() {
  const char* opt_out = std::getenv(kNoCtrProviderVariable);
  if (opt_out != nullptr && *opt_out != '\0' && std::strcmp(opt_out, "0") != 0) {
    LogEvent(spdlog::level::debug, "cipher_provider_off",
             "AES-CTR from OpenSSL's default provider ({variable} is set)",
             {{"variable", kNoCtrProviderVariable}});
    return;
  }
  std::string error;
  if (!InstallCtrProvider(&error)) {
    LogEventText(spdlog::level::warn, "cipher_provider_failed",
                 error + "; AES-CTR comes from OpenSSL's default provider");
    return;
  }
  SetCtrProviderServedLogging(true);
  LogEvent(spdlog::level::debug, "cipher_provider_on",
           "AES-CTR from tether's provider (keystream made ahead in bulk)");
}

}  // namespace tether
