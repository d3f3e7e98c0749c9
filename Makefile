# The index of everyday commands. Each target is a thin call into scripts/ or cargo.
.PHONY: help setup test lint fmt bench

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## Install local tools (moto, cfn-lint, cargo-lambda) into ./.venv
	scripts/bootstrap.sh

test: ## Run every check and test (starts and stops a local moto server)
	scripts/test.sh

lint: ## cargo fmt --check and clippy with warnings denied
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	cargo fmt --all

bench: ## Run the benchmarks recorded in docs/BENCHMARKS.md
	cargo bench -p shared --bench verify
