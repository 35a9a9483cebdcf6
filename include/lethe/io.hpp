// lethe/io.hpp - files in and out: atomic writes, half/bfloat16, JSONL, chat
// templates, safetensors and PEFT adapters, GGUF, the byte-level BPE tokenizer.
#pragma once

#include "io/atomic_file.hpp"
#include "io/chat_template.hpp"
#include "io/float16.hpp"
#include "io/gguf.hpp"
#include "io/gguf_llama.hpp"
#include "io/gguf_matvec.hpp"
#include "io/jsonl.hpp"
#include "io/peft.hpp"
#include "io/safetensors.hpp"
#include "io/tokenizer.hpp"
