PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-complete

# Keep caches, remote-code modules and W&B files inside the work tree, and never wait on the Hub in tests.
export HF_HOME ?= $(CURDIR)/.cache/huggingface
export WANDB_DIR ?= $(CURDIR)/.cache
export SAM_AUDIO_CACHE ?= $(CURDIR)/.cache/sam_audio

.PHONY: setup test test-slow lint format demo clean demo-web browser

setup: $(STAMP)

$(STAMP): requirements.txt setup.py scripts/setup_env.sh
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/setup_env.sh
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: setup lint
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

test-slow: setup
	HF_HUB_OFFLINE=1 RUN_SLOW=1 $(BIN)/python -m pytest -m slow

# Train on the built-in synthetic corpus (split by recording), then test on new recordings and classify one clip.
demo: setup
	rm -rf outputs/demo
	$(BIN)/python run_raga_classification.py --config config.yaml --dataset_name synthetic \
		--group_column_name recording_id --output_dir outputs/demo --epochs 20 --report_to none
	$(BIN)/python scripts/classify_held_out_clip.py outputs/demo

# The web demo (app.py) on http://127.0.0.1:7860, with the `make demo` model, trained first if there is none.
demo-web: setup
	@if [ ! -f outputs/demo/model.safetensors ]; then $(MAKE) demo; fi
	$(BIN)/python app.py --model outputs/demo

# The browser test in tests/test_app.py drives Debian's Chromium. Installed for `make test-slow` only, not by `make
# setup`: nothing else needs a browser. Without root and apt it says so, and that test is skipped.
test-slow: browser

browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "browser: installing chromium and chromium-driver with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium chromium-driver >/dev/null || echo "browser: apt-get failed; the browser test will be skipped"; \
	else \
		echo "browser: chromium or chromedriver is missing (apt-get install chromium chromium-driver);" \
			"the browser test will be skipped"; \
	fi

clean:
	rm -rf .cache outputs wandb .pytest_cache
