// lethe/privacy/keyed_hash.hpp - the keyed-hash operator: HMAC-SHA256 from
// OpenSSL's libcrypto. Kept apart so that users without OpenSSL can use the
// rest of the privacy layer; link lethe::crypto to use it.
#pragma once

#if !__has_include(<openssl/hmac.h>)
#error "lethe/privacy/keyed_hash.hpp needs OpenSSL's libcrypto headers (link the lethe::crypto target)"
#endif

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "operators.hpp"

namespace lethe::privacy {

// HMAC-SHA256 (RFC 2104 / FIPS 198-1) of `message` under `key`.
inline std::array<unsigned char, 32> hmac_sha256(std::string_view key, std::string_view message) {
    std::array<unsigned char, 32> mac{};
    unsigned int len = 0;
    const unsigned char* r = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                                  reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &len);
    require(r != nullptr && len == mac.size(), "lethe::privacy::hmac_sha256", "OpenSSL HMAC failed");
    return mac;
}

inline std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
    static constexpr char hex[] = "0123456789abcdef";
    const auto mac = hmac_sha256(key, message);
    std::string o(64, '0');
    for (std::size_t i = 0; i < mac.size(); ++i) {
        o[2 * i] = hex[mac[i] >> 4];
        o[2 * i + 1] = hex[mac[i] & 15];
    }
    return o;
}

// Installs the keyed-hash provider: the digest covers the entity type and
// the value ("EMAIL\0alice@x.org"), so equal strings of different types do
// not link. An empty key is refused.
inline void install_keyed_hash(replacement_policy& policy, std::string key) {
    require(!key.empty(), "lethe::privacy::install_keyed_hash", "the key must not be empty");
    policy.keyed_hash = [key = std::move(key)](entity_type type, std::string_view value) {
        std::string msg(name_of(type));
        msg += '\0';
        msg += value;
        return hmac_sha256_hex(key, msg);
    };
}

}  // namespace lethe::privacy
