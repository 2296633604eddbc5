#!/bin/bash
# Speed table for the README (issue 4, F16 KV cache): lmz_bench --no-ce -T 2, idle machine.
# Run from the repository root after `make bench-build`.
set -eu
D=${LMZ_SHARED:-../shared}/data
B=build/release/bench/lmz_bench
echo "# machine: $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); date $(date -u +%FT%RZ); commit $(git rev-parse --short HEAD)"
head -c 393216 $D/llm-gpt-4o-2024-05-13.txt > /tmp/gpt384k.txt
$B --no-ce -T 2 -l 1 $D/llm-gpt-4o-2024-05-13.txt $D/prose-calgary-book1.txt
for i in 1 2 3; do $B --no-ce -T 2 -l 5 $D/llm-gpt-4o-2024-05-13.txt $D/prose-calgary-book1.txt; done
$B --no-ce -T 2 -l 4 $D/llm-gpt-4o-2024-05-13.txt
$B --no-ce -T 2 -l 8 /tmp/gpt384k.txt
$B --no-ce -T 2 -l 1 --per-response $D/llm-Meta-Llama-3-70B-Instruct.jsonl $D/llm-Qwen1.5-72B-Chat.jsonl $D/llm-adapt-Mixtral-8x7B-Instruct-v0.1-test.jsonl $D/llm-claude-3-opus-20240229.jsonl $D/llm-gpt-4o-2024-05-13.jsonl
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
