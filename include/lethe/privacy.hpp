// lethe/privacy.hpp - the privacy layer: PII scanner, replacement operators,
// preference-pair builder (stage 2 of the method). Depends on core and io only.
// The keyed-hash operator lives in <lethe/privacy/keyed_hash.hpp> (needs
// OpenSSL's libcrypto: link lethe::crypto).
#pragma once

#include "privacy/entity.hpp"
#include "privacy/gazetteer.hpp"
#include "privacy/operators.hpp"
#include "privacy/pseudonym.hpp"
#include "privacy/scanner.hpp"
#include "privacy/validators.hpp"
#include "privacy/pair_builder.hpp"
