#include "tether/rsa_key.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <vector>

#include "tether/ssh_wire.h"

namespace tether {
namespace {

struct BnDeleter {
  void operator()(BIGNUM* n) const { BN_clear_free(n); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;

struct BnCtxDeleter {
  void operator()(BN_CTX* c) const { BN_CTX_free(c); }
};
struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

BnPtr FromMagnitude(std::string_view bytes) {
  // An mpint with its top bit set is negative: no RSA number is.
  if (!bytes.empty() && (static_cast<uint8_t>(bytes[0]) & 0x80) != 0) return nullptr;
  return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                         static_cast<int>(bytes.size()), nullptr));
}

std::string Magnitude(const BIGNUM* n) {
  std::string out(static_cast<size_t>(BN_num_bytes(n)), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

// d mod (prime - 1), a CRT exponent.
BnPtr CrtExponent(const BIGNUM* d, const BIGNUM* prime, BN_CTX* ctx) {
  BnPtr minus_one(BN_dup(prime));
  BnPtr out(BN_new());
  if (!minus_one || !out || !BN_sub_word(minus_one.get(), 1) ||
      !BN_mod(out.get(), d, minus_one.get(), ctx)) {
    return nullptr;
  }
  return out;
}

EvpPkeyPtr FromParams(OSSL_PARAM_BLD* builder, int selection) {
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(builder));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, selection, params.get()) != 1) {
    return nullptr;
  }
  return EvpPkeyPtr(key);
}

}  // namespace

EvpPkeyPtr RsaKeyFromParts(const RsaParts& parts) {
  BnPtr n = FromMagnitude(parts.n), e = FromMagnitude(parts.e), d = FromMagnitude(parts.d);
  BnPtr iqmp = FromMagnitude(parts.iqmp), p = FromMagnitude(parts.p), q = FromMagnitude(parts.q);
  std::unique_ptr<BN_CTX, BnCtxDeleter> ctx(BN_CTX_secure_new());
  if (!n || !e || !d || !iqmp || !p || !q || !ctx || BN_is_zero(p.get()) || BN_is_zero(q.get()) ||
      BN_num_bits(n.get()) < 1024 || BN_num_bits(n.get()) > 16384) {
    return nullptr;
  }
  // The parts must belong together: a key whose n is not p*q would sign garbage.
  BnPtr product(BN_new());
  if (!product || !BN_mul(product.get(), p.get(), q.get(), ctx.get()) ||
      BN_cmp(product.get(), n.get()) != 0) {
    return nullptr;
  }
  BnPtr dmp1 = CrtExponent(d.get(), p.get(), ctx.get());
  BnPtr dmq1 = CrtExponent(d.get(), q.get(), ctx.get());
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> builder(OSSL_PARAM_BLD_new());
  if (!dmp1 || !dmq1 || !builder ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_D, d.get()) ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_FACTOR1, p.get()) ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_FACTOR2, q.get()) ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_EXPONENT1, dmp1.get()) ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_EXPONENT2, dmq1.get()) ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_COEFFICIENT1, iqmp.get())) {
    return nullptr;
  }
  return FromParams(builder.get(), EVP_PKEY_KEYPAIR);
}

EvpPkeyPtr RsaPublicKeyFromBlob(std::string_view blob) {
  WireReader reader(blob);
  std::string_view type, e_bytes, n_bytes;
  if (!reader.ReadString(&type) || type != "ssh-rsa" || !reader.ReadString(&e_bytes) ||
      !reader.ReadString(&n_bytes) || !reader.empty()) {
    return nullptr;
  }
  BnPtr n = FromMagnitude(n_bytes), e = FromMagnitude(e_bytes);
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> builder(OSSL_PARAM_BLD_new());
  if (!n || !e || !builder ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get())) {
    return nullptr;
  }
  return FromParams(builder.get(), EVP_PKEY_PUBLIC_KEY);
}

bool IsRsaKey(EVP_PKEY* key) { return key != nullptr && EVP_PKEY_is_a(key, "RSA") == 1; }

std::string RsaPublicBlob(EVP_PKEY* key, std::string_view type_name) {
  if (!IsRsaKey(key)) return "";
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
      EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    BN_free(n);
    BN_free(e);
    return "";
  }
  BnPtr n_owner(n), e_owner(e);
  WireWriter writer;
  writer.PutString(type_name);
  writer.PutMpint(Magnitude(e));
  writer.PutMpint(Magnitude(n));
  return writer.data();
}

const EVP_MD* RsaDigestFor(std::string_view algorithm) {
  if (algorithm == "rsa-sha2-512") return EVP_sha512();
  if (algorithm == "rsa-sha2-256") return EVP_sha256();
  if (algorithm == "ssh-rsa") return EVP_sha1();
  return nullptr;
}

bool RsaSign(EVP_PKEY* key, std::string_view algorithm, std::string_view data,
             std::string* signature) {
  const EVP_MD* digest = RsaDigestFor(algorithm);
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  if (!IsRsaKey(key) || digest == nullptr || !ctx ||
      EVP_DigestSignInit(ctx.get(), &pkey_ctx, digest, nullptr, key) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING) != 1) {
    return false;
  }
  size_t length = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &length, bytes, data.size()) != 1) return false;
  signature->assign(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature->data()), &length, bytes,
                     data.size()) != 1) {
    signature->clear();
    return false;
  }
  signature->resize(length);
  return true;
}

bool RsaVerify(EVP_PKEY* key, std::string_view algorithm, std::string_view data,
               std::string_view signature) {
  const EVP_MD* digest = RsaDigestFor(algorithm);
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  if (!IsRsaKey(key) || digest == nullptr || !ctx ||
      EVP_DigestVerifyInit(ctx.get(), &pkey_ctx, digest, nullptr, key) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                          data.size()) == 1;
}

}  // namespace tether
