# The index of everyday commands. Each target is a thin call into scripts/ or cargo; local
# commands read their settings from local.env.
.PHONY: help setup dev test send show bus resign lint fmt bench load footprint fuzz package

SHELL := bash
# local.env's defaults, read the one way every script reads them: a value already in the
# environment wins (scripts/lib/local_env.sh).
LOCAL_ENV = source scripts/lib/local_env.sh && export AWS_ENDPOINT_URL=http://127.0.0.1:$$MOTO_PORT \
	AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: ## Install local tools (moto, cfn-lint, cargo-lambda) into ./.venv
	scripts/bootstrap.sh

dev: ## Run the whole pipeline locally (moto, both functions, the queue poller); Ctrl-C stops it
	scripts/dev.sh

test: ## Run every check and test (starts and stops its own moto and local stack)
	scripts/test.sh

send: ## Sign and post a sample to the running stack: make send EVENT=events/payloads/...json
	@test -n "$(EVENT)" || { echo "usage: make send EVENT=events/payloads/<source>/<file>.json"; exit 2; }
	@cargo build --quiet -p webhookctl
	@$(LOCAL_ENV) && target/debug/webhookctl send "$(EVENT)"

show: ## Show what the consumer did: make show ITEM=item-10042 (or VERIFICATION=48342)
	@cargo build --quiet -p webhookctl
	@$(LOCAL_ENV) && if [ -n "$(VERIFICATION)" ]; then target/debug/webhookctl show --verification "$(VERIFICATION)"; \
		else target/debug/webhookctl show "$(or $(ITEM),item-10042)"; fi

bus: ## Print business events as the running stack's bus delivers them (Ctrl-C stops): make bus
	@cargo build --quiet -p webhookctl
	@$(LOCAL_ENV) && target/debug/webhookctl bus watch

resign: ## Re-sign events/requests/ at the current time (signatures expire after 5 minutes)
	@cargo build --quiet -p webhookctl
	@$(LOCAL_ENV) && target/debug/webhookctl resign

lint: ## cargo fmt --check and clippy with warnings denied
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	cargo fmt --all

load: ## Load-and-fault run on the local stack: make load (10,000 webhooks; LOAD_WEBHOOKS=1000 for less)
	scripts/load.sh

fuzz: ## Fuzz every target for FUZZ_SECONDS each (default 30): make fuzz FUZZ_SECONDS=600
	scripts/fuzz.sh

footprint: ## Start-up, peak RSS and arm64 package sizes (docs/BENCHMARKS.md); needs strace, hyperfine, GNU time
	scripts/footprint.sh

package: ## sam validate --lint, sam build (arm64) and each function's zipped size; slow, not part of test
	scripts/package.sh

bench: ## Run the benchmarks recorded in docs/BENCHMARKS.md
	cargo bench -p webhook-core --bench verify
	cargo bench -p ingress --bench handler > /dev/null
