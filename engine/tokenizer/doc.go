// Package tokenizer turns text into token ids and back for the two BPE
// flavours the supported models use, exactly as llama.cpp does:
//
//   - byte-level BPE (GGUF tokenizer.ggml.model "gpt2": GPT-2, Llama 3,
//     Qwen2, SmolLM, StarCoder, ...): a pre-tokenizer cuts text into
//     words, each word's bytes are spelled in GPT-2's printable runes and
//     merged by the rank of the merge rules;
//   - SentencePiece BPE with byte fallback (model "llama": Llama 2,
//     TinyLlama, Mistral, Phi-3): spaces become "▁", a "▁" is prefixed,
//     adjacent pieces merge best score first, and what no token covers
//     falls back to <0xXX> byte tokens.
//
// A Vocab describes a tokenizer neutrally; FromGGUF reads one from GGUF
// metadata, FromTokenizerJSON from a Hugging Face tokenizer.json, and
// ToTokenizerJSON writes one. New builds the Tokenizer, whose Encode,
// Decode and StreamDecoder do the work. RenderChat renders a model's Jinja
// chat template.
//
// Pre-tokenizers: llama.cpp defines each tokenizer.ggml.pre value as a
// list of regexes that need lookahead (\s+(?!\S)), which Go's regexp
// lacks. Rather than pull a backtracking regex engine into every build
// (and the browser's wasm), each regex stage is a short hand-written
// scanner over Go's Unicode tables (\p{L}, \p{N}, White_Space), as
// llama.cpp itself hand-writes its gpt2 and llama3 splitters. The tests
// check every stage against the regexes run by github.com/dlclark/regexp2
// (a test-only dependency), on the llama.cpp test strings, on random
// mixes of letters, digits, marks, spaces and punctuation from many
// scripts, and in FuzzPreTokenizers. As in llama.cpp's splitters, an
// unassigned code point is a piece of its own.
//
// Where this package departs from llama.cpp, on purpose:
//   - invalid UTF-8 in the input is kept byte for byte (llama.cpp turns it
//     into U+FFFD first);
//   - SentencePiece merges never produce control, unknown or byte tokens
//     from plain text (SentencePiece does not either);
//   - Decode strips the SentencePiece space prefix also after a leading
//     BOS, like tokenizers' Strip decoder, so Decode(Encode(s)) == s;
//   - no "clean up tokenization spaces" pass on decode.
package tokenizer
